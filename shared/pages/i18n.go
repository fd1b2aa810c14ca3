package pages

import (
	"embed"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// The languages pages and emails are written in.
const (
	English = "en"
	Spanish = "es"
)

// Languages lists the supported languages, English first.
func Languages() []string { return []string{English, Spanish} }

//go:embed locales/*.json
var localeFS embed.FS

// localizers parse a language's message file on the first page or email in
// that language, not before: a cold function pays for one language, not all
// (TestCatalogueComplete keeps the files in step, so none falls back).
var localizers = func() map[string]func() (*i18n.Localizer, error) {
	m := map[string]func() (*i18n.Localizer, error){}
	for _, lang := range Languages() {
		m[lang] = sync.OnceValues(func() (*i18n.Localizer, error) {
			bundle := i18n.NewBundle(language.Make(lang))
			path := "locales/" + lang + ".json"
			if _, err := bundle.LoadMessageFileFS(localeFS, path); err != nil {
				return nil, fmt.Errorf("load messages %s: %w", path, err)
			}
			return i18n.NewLocalizer(bundle, lang), nil
		})
	}
	return m
}()

// Lang picks the language for a BCP 47 tag: "es" for any Spanish tag (es,
// es-MX, es_419…), else "en".
func Lang(tag string) string {
	primary, _, _ := strings.Cut(strings.ReplaceAll(strings.TrimSpace(tag), "_", "-"), "-")
	if strings.EqualFold(primary, Spanish) {
		return Spanish
	}
	return English
}

// RequestLang picks a page's language: an explicit ?lang=en or ?lang=es in the
// URL (the pages' switch links), else preferred (e.g. the patient's preferred
// language) when it is set, else the first language of the Accept-Language
// header, else English.
func RequestLang(r *http.Request, preferred string) string {
	switch q := r.URL.Query().Get("lang"); q {
	case English, Spanish:
		return q
	}
	if strings.TrimSpace(preferred) != "" {
		return Lang(preferred)
	}
	if tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language")); err == nil && len(tags) > 0 {
		return Lang(tags[0].String())
	}
	return English
}

// tr translates into one language. Its methods are called from templates, so
// they return an error alongside the text: a missing message fails the render
// instead of showing a message id.
type tr struct {
	Lang string
	loc  *i18n.Localizer
}

// newTr returns the translator for lang (normalised with Lang).
func newTr(lang string) (tr, error) {
	lang = Lang(lang)
	loc, err := localizers[lang]()
	if err != nil {
		return tr{}, err
	}
	return tr{Lang: lang, loc: loc}, nil
}

// T returns message id with its template filled from key/value pairs.
func (t tr) T(id string, kv ...any) (string, error) {
	return t.localize(id, nil, kv)
}

// N returns the plural form of message id that fits n.
func (t tr) N(id string, n int, kv ...any) (string, error) {
	return t.localize(id, n, kv)
}

func (t tr) localize(id string, count any, kv []any) (string, error) {
	if len(kv)%2 != 0 {
		return "", fmt.Errorf("message %s: odd number of template arguments", id)
	}
	cfg := &i18n.LocalizeConfig{MessageID: id, PluralCount: count}
	if len(kv) > 0 {
		data := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return "", fmt.Errorf("message %s: template key %d is not a string", id, i/2)
			}
			data[k] = kv[i+1]
		}
		cfg.TemplateData = data
	}
	s, err := t.loc.Localize(cfg)
	if err != nil {
		return "", fmt.Errorf("message %s (%s): %w", id, t.Lang, err)
	}
	return s, nil
}

// Date formats a moment for people, in its own location: "Saturday, March 14,
// 2026, 5:30 pm UTC" or "sábado 14 de marzo de 2026, 17:30 UTC".
func (t tr) Date(at time.Time) (string, error) {
	weekday, month, err := t.dayNames(at, "")
	if err != nil {
		return "", err
	}
	layout, err := t.T("time.layout")
	if err != nil {
		return "", err
	}
	return t.T("date.format",
		"Weekday", weekday, "Month", month, "Day", at.Day(), "Year", at.Year(),
		"Time", at.Format(layout), "Zone", at.Format("MST"))
}

// dayNames names a moment's weekday and month in the page's language, in
// full (form "") or short (form "short.": "Tue", "Mar").
func (t tr) dayNames(at time.Time, form string) (weekday, month string, err error) {
	if weekday, err = t.T("weekday." + form + strconv.Itoa(int(at.Weekday()))); err != nil {
		return "", "", err
	}
	if month, err = t.T("month." + form + strconv.Itoa(int(at.Month()))); err != nil {
		return "", "", err
	}
	return weekday, month, nil
}

// Distance says how far a group meets, in miles with kilometres alongside.
func (t tr) Distance(km float64) (string, error) {
	miles := km * 0.621371
	if miles < 0.5 {
		return t.T("distance.near")
	}
	n := int(math.Round(miles))
	kmText := strconv.FormatFloat(math.Round(km*10)/10, 'f', -1, 64)
	if t.Lang == Spanish {
		kmText = strings.ReplaceAll(kmText, ".", ",")
	}
	return t.N("distance.miles", n, "Miles", n, "Km", kmText)
}

// LanguageName names a BCP 47 language in the page's language ("Spanish",
// "español"), or returns the text as given when it is not a known code.
func (t tr) LanguageName(code string) string {
	tag, err := language.Parse(strings.TrimSpace(code))
	if err != nil {
		return code
	}
	base, _ := tag.Base()
	name, err := t.T("language." + base.String())
	if err != nil {
		return code
	}
	return name
}

// ContactChannel puts a masked contact in words for the consent page, e.g.
// "your email address a***@example.org". kind is "email" or "phone"; masked
// must already be masked (see MaskEmail, MaskPhone). It returns an error for
// another kind.
func ContactChannel(lang, kind, masked string) (string, error) {
	t, err := newTr(lang)
	if err != nil {
		return "", err
	}
	switch kind {
	case "email", "phone":
		return t.T("channel."+kind, "Masked", masked)
	}
	return "", fmt.Errorf("contact channel: unknown kind %q", kind)
}

// MaskEmail hides most of an email address: "ana.diaz@example.org" becomes
// "a***@example.org". An address without "@" is masked whole ("***").
func MaskEmail(addr string) string {
	local, domain, ok := strings.Cut(strings.TrimSpace(addr), "@")
	if !ok || local == "" || domain == "" {
		return "***"
	}
	r, _ := utf8.DecodeRuneInString(local)
	return string(r) + "***@" + domain
}

// MaskPhone keeps only the last two digits of a phone number: "+14155550100"
// becomes "•••• 00". A number with fewer than four digits is masked whole.
func MaskPhone(phone string) string {
	var digits []rune
	for _, r := range phone {
		if unicode.IsDigit(r) {
			digits = append(digits, r)
		}
	}
	if len(digits) < 4 {
		return "••••"
	}
	return "•••• " + string(digits[len(digits)-2:])
}

// capitalize upper-cases the first letter of s.
func capitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// oneLine replaces control characters (line breaks, tabs…) with spaces and
// trims, so a typed value cannot add lines or headers to a subject or text.
func oneLine(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return strings.TrimSpace(s)
	}
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
}

// The day and time-of-day codes of a referral's preferences.
var (
	dayCodes  = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	timeCodes = []string{"morning", "afternoon", "evening"}
)

// PreferredTimesText puts a patient's preferred days (mon…sun) and times of day
// (morning, afternoon, evening) in words for a group: "Mondays, Wednesdays;
// evenings". Either list may be empty; both empty give "". It returns an error
// for an unknown code.
func PreferredTimesText(lang string, days, times []string) (string, error) {
	t, err := newTr(lang)
	if err != nil {
		return "", err
	}
	words := func(prefix string, codes, known []string) (string, error) {
		var out []string
		for _, c := range codes {
			if !slices.Contains(known, c) {
				return "", fmt.Errorf("preferred times: unknown code %q", c)
			}
			w, err := t.T(prefix + c)
			if err != nil {
				return "", err
			}
			out = append(out, w)
		}
		return strings.Join(out, ", "), nil
	}
	d, err := words("days.", days, dayCodes)
	if err != nil {
		return "", err
	}
	tm, err := words("times.", times, timeCodes)
	if err != nil {
		return "", err
	}
	if d == "" || tm == "" {
		return d + tm, nil
	}
	return t.T("times.both", "Days", d, "Times", tm)
}
