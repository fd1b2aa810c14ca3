package pages

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io"
	"net/url"
	"sync"
	texttemplate "text/template"
)

//go:embed templates
var templateFS embed.FS

// The page templates: each is the shared layout plus one page's content.
var pageFiles = map[string][]string{
	"consent": {"templates/layout.html", "templates/crisis.html", "templates/consent.html"},
	"group":   {"templates/layout.html", "templates/group.html"},
	"admin":   {"templates/layout.html", "templates/admin.html"},
	"error":   {"templates/layout.html", "templates/error.html"},
	"listing": {"templates/layout.html", "templates/listing.html"},
	"clinic":  {"templates/layout.html", "templates/clinic.html"},
}

// The email templates: each HTML body shares the email layout.
var emailNames = []string{"consent", "receipt", "group", "self", "withdrawn", "clinician", "volunteer", "listing", "handover", "handed",
	"plan", "meetingreminder", "checkin", "groupreminder", "office", "staff"}

// Each template is parsed on its first use, not all of them on the first
// render: a cold function parses only what its first answer needs.
var (
	pageTemplates  = lazyTemplates(pageFiles, parseHTML)
	emailTemplates = lazyTemplates(emailHTMLFiles(), parseHTML)
	textTemplates  = lazyTemplates(textFiles(), parseText)
)

// emailHTMLFiles lists each email's HTML body with the layout it shares.
func emailHTMLFiles() map[string][]string {
	m := map[string][]string{}
	for _, name := range emailNames {
		m[name] = []string{"templates/email/layout.html", "templates/email/" + name + ".html"}
	}
	return m
}

// textFiles lists the text templates: each email's text body, and the
// consent text ("decision").
func textFiles() map[string][]string {
	m := map[string][]string{"decision": {"templates/decision.txt"}}
	for _, name := range emailNames {
		m[name+".txt"] = []string{"templates/email/" + name + ".txt"}
	}
	return m
}

func parseHTML(name string, files []string) (*template.Template, error) {
	return template.New(name).ParseFS(templateFS, files...)
}

func parseText(name string, files []string) (*texttemplate.Template, error) {
	return texttemplate.New(name).ParseFS(templateFS, files...)
}

// lazyTemplates returns, for each name, a function that parses its files
// once, on first call.
func lazyTemplates[T any](files map[string][]string, parse func(string, []string) (T, error)) map[string]func() (T, error) {
	m := make(map[string]func() (T, error), len(files))
	for name, fs := range files {
		m[name] = sync.OnceValues(func() (T, error) {
			t, err := parse(name, fs)
			if err != nil {
				return t, fmt.Errorf("parse template %s: %w", name, err)
			}
			return t, nil
		})
	}
	return m
}

// lookup returns the parsed template name of set.
func lookup[T any](set map[string]func() (T, error), name string) (T, error) {
	load, ok := set[name]
	if !ok {
		var zero T
		return zero, fmt.Errorf("no template %q", name)
	}
	return load()
}

// base is what the layout needs on every page.
type base struct {
	tr
	Title       string
	Notice      notice // shown at the top of main
	Footer      bool   // show the "this page is private" footer
	SwitchURL   string // the same page in the other language ("" for none)
	SwitchLang  string
	SwitchLabel string
}

// newBase prepares the layout data for a page whose own path is actionURL.
func newBase(t tr, actionURL string) (base, error) {
	b := base{tr: t, Footer: true}
	if actionURL == "" {
		return b, nil
	}
	other := Spanish
	if t.Lang == Spanish {
		other = English
	}
	label, err := t.T("page.switch")
	if err != nil {
		return b, err
	}
	b.SwitchURL, b.SwitchLang, b.SwitchLabel = withLang(actionURL, other), other, label
	return b, nil
}

// withLang adds ?lang= to a page's own path, keeping any other query.
func withLang(path, lang string) string {
	u, err := url.Parse(path)
	if err != nil {
		return path
	}
	q := u.Query()
	q.Set("lang", lang)
	u.RawQuery = q.Encode()
	return u.String()
}

// notice is a message shown at the top of a page after a form was sent.
type notice struct {
	Text  string
	Alert bool // a problem the reader must fix (role=alert), not a confirmation
}

// newNotice returns the notice for key (an empty notice for ""), or an error
// for a key not in allowed, which maps each key to whether it is an alert.
func newNotice(t tr, key string, allowed map[string]bool) (notice, error) {
	if key == "" {
		return notice{}, nil
	}
	alert, ok := allowed[key]
	if !ok {
		return notice{}, fmt.Errorf("unknown notice %q", key)
	}
	text, err := t.T("notice." + key)
	if err != nil {
		return notice{}, err
	}
	return notice{Text: text, Alert: alert}, nil
}

// pageBufferSize fits a rendered page without regrowing the buffer.
const pageBufferSize = 16 << 10

// renderPage executes a page into a buffer first, so a failed render writes
// nothing and the caller can still answer with an error page.
func renderPage(w io.Writer, name string, data any) error {
	t, err := lookup(pageTemplates, name)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.Grow(pageBufferSize)
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("render %s page: %w", name, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write %s page: %w", name, err)
	}
	return nil
}
