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
	"error":   {"templates/layout.html", "templates/error.html"},
}

// The email templates: each HTML body shares the email layout.
var emailNames = []string{"consent", "receipt", "group", "self", "withdrawn", "clinician"}

// templates are every parsed template, built once on first use.
type templates struct {
	pages     map[string]*template.Template
	emailHTML map[string]*template.Template
	text      *texttemplate.Template // emails' text bodies and the consent text
}

var loadTemplates = sync.OnceValues(func() (*templates, error) {
	ts := &templates{pages: map[string]*template.Template{}, emailHTML: map[string]*template.Template{}}
	for name, files := range pageFiles {
		t, err := template.New(name).ParseFS(templateFS, files...)
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		ts.pages[name] = t
	}
	for _, name := range emailNames {
		t, err := template.New(name).ParseFS(templateFS, "templates/email/layout.html", "templates/email/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse email %s: %w", name, err)
		}
		ts.emailHTML[name] = t
	}
	text, err := texttemplate.New("text").ParseFS(templateFS, "templates/email/*.txt", "templates/decision.txt")
	if err != nil {
		return nil, fmt.Errorf("parse text templates: %w", err)
	}
	ts.text = text
	return ts, nil
})

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
	ts, err := loadTemplates()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.Grow(pageBufferSize)
	if err := ts.pages[name].ExecuteTemplate(&buf, "layout", data); err != nil {
		return fmt.Errorf("render %s page: %w", name, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write %s page: %w", name, err)
	}
	return nil
}
