package eumtest

import (
	"html/template"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// phone is one number's texts, oldest first.
type phone struct {
	Number string
	Texts  []Message
}

// links finds the links in a text, to make them followable as a phone does.
var links = regexp.MustCompile(`https?://[^\s]+`)

// linkify escapes a text and makes its links anchors.
func linkify(body string) template.HTML {
	var b strings.Builder
	last := 0
	for _, m := range links.FindAllStringIndex(body, -1) {
		b.WriteString(template.HTMLEscapeString(body[last:m[0]]))
		u := template.HTMLEscapeString(body[m[0]:m[1]])
		b.WriteString(`<a href="` + u + `">` + u + `</a>`)
		last = m[1]
	}
	b.WriteString(template.HTMLEscapeString(body[last:]))
	return template.HTML(b.String())
}

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"linkify": linkify,
	"digits":  func(s string) string { return strings.TrimPrefix(s, "+") },
	"when":    func(ms int64) string { return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05 UTC") },
	"iso":     func(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) },
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Phone sink: texts sent</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; padding: 1rem; background: #f4f4f6; color: #1a1a1a; }
.phones { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
section { width: 20rem; max-width: 100%; background: #fff; border: 2px solid #333; border-radius: 1.5rem; padding: 1rem; }
h2 { font-size: 1rem; margin: 0 0 .75rem; text-align: center; }
ol { list-style: none; margin: 0; padding: 0; }
li { margin: 0 0 .75rem; }
p.text { margin: 0; background: #e4e4ea; border-radius: 1rem; padding: .5rem .75rem; white-space: pre-wrap; overflow-wrap: anywhere; }
time { display: block; font-size: .8rem; color: #4a4a4a; margin-top: .2rem; }
a { color: #0b4f9c; }
</style>
</head>
<body>
<main>
<h1>Texts sent</h1>
<p>{{len .Phones}} phone{{if ne (len .Phones) 1}}s{{end}}, the latest text first. <a href="/store">JSON</a></p>
<div class="phones">
{{range .Phones}}<section aria-labelledby="n-{{digits .Number}}">
<h2 id="n-{{digits .Number}}">{{.Number}}</h2>
<ol>{{range .Texts}}
<li><p class="text">{{linkify .Body}}</p><time datetime="{{iso .At}}">{{when .At}}</time></li>{{end}}
</ol>
</section>
{{else}}<p>No text sent yet.</p>{{end}}
</div>
</main>
</body>
</html>
`))

// page shows the texts per phone number, the phone with the latest text first.
func (s *Sink) page(w http.ResponseWriter) {
	var phones []phone
	at := map[string]int{}
	for _, m := range s.Messages(0) {
		i, ok := at[m.To]
		if !ok {
			i = len(phones)
			at[m.To] = i
			phones = append(phones, phone{Number: m.To})
		}
		phones[i].Texts = append(phones[i].Texts, m)
	}
	slices.SortStableFunc(phones, func(a, b phone) int {
		return int(b.Texts[len(b.Texts)-1].At - a.Texts[len(a.Texts)-1].At)
	})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	_ = pageTmpl.Execute(w, map[string]any{"Phones": phones})
}
