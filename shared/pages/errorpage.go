package pages

import (
	"io"
	"net/http"
	"slices"
)

// errorPage is the data of a plain error page.
type errorPage struct {
	base
	Body string
}

// fallbackError is written only if the embedded templates cannot be rendered,
// which the tests rule out; it keeps an error path from ever failing silently.
const fallbackError = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Error</title></head>" +
	"<body><main><h1>Something went wrong</h1><p>Please try again later.</p></main></body></html>\n"

// errorKind picks the page for a status: 400, 403, 404 (also for 410: an
// expired link reads the same as an unknown one), 405 or 500. Any other 4xx is
// shown as 400, any other status as 500.
func errorKind(status int) string {
	switch status {
	case http.StatusForbidden:
		return "403"
	case http.StatusNotFound, http.StatusGone:
		return "404"
	case http.StatusMethodNotAllowed:
		return "405"
	}
	if status >= 400 && status < 500 {
		return "400"
	}
	return "500"
}

// RenderError writes a plain error page in lang for an HTTP status: 403, 404,
// 405, 410 or 500 (400 for a form that could not be read). It shows no detail
// at all: an unknown or expired link says only that the link does not work or
// has expired, and to contact the clinic. When w is an http.ResponseWriter it
// also sets the page headers (see Headers) and writes the status, so a handler
// can answer with this one call; a status outside 400–599 is sent as 500.
// Errors writing to w are not reported: there is nothing left to tell.
func RenderError(w io.Writer, lang string, status int) {
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	if rw, ok := w.(http.ResponseWriter); ok {
		setPageHeaders(rw.Header())
		rw.WriteHeader(status)
	}
	if err := renderError(w, lang, status); err != nil {
		_, _ = io.WriteString(w, fallbackError)
	}
}

func renderError(w io.Writer, lang string, status int) error {
	t, err := newTr(lang)
	if err != nil {
		return err
	}
	kind := errorKind(status)
	p := errorPage{base: base{tr: t}}
	if p.Title, err = t.T("error." + kind + ".title"); err != nil {
		return err
	}
	if p.Body, err = t.T("error." + kind + ".body"); err != nil {
		return err
	}
	return renderPage(w, "error", p)
}

// LaunchReasons are the reasons RenderLaunchError explains: an iss no
// clinic registered, and the codes of shared/smartlaunch's errors.
var LaunchReasons = []string{"unregistered", "bad-request", "bad-state", "denied", "no-patient", "scope-too-wide",
	"bad-id-token", "ehr-unreachable", "ehr-answer"}

// RenderLaunchError writes the plain page of a SMART launch from an EHR
// that could not go on, in lang, saying why in words for the clinician
// (reason: one of LaunchReasons; any other reads as ehr-answer). It shows
// nothing the EHR sent. With an http.ResponseWriter it also sets the page
// headers and writes status (a 4xx: the EHR's trouble is never a 5xx).
// The page may be framed by framedBy (the EHR's origins, for a launch
// inside a frame of its page: see FramedBy), by no one when none.
func RenderLaunchError(w io.Writer, lang string, status int, reason string, framedBy ...string) {
	if status < 400 || status > 499 {
		status = http.StatusBadRequest
	}
	if rw, ok := w.(http.ResponseWriter); ok {
		setPageHeaders(rw.Header())
		FramedBy(rw.Header(), framedBy)
		rw.WriteHeader(status)
	}
	if err := renderLaunchError(w, lang, reason); err != nil {
		_, _ = io.WriteString(w, fallbackError)
	}
}

func renderLaunchError(w io.Writer, lang, reason string) error {
	t, err := newTr(lang)
	if err != nil {
		return err
	}
	if !slices.Contains(LaunchReasons, reason) {
		reason = "ehr-answer"
	}
	p := errorPage{base: base{tr: t}}
	if p.Title, err = t.T("launch.title"); err != nil {
		return err
	}
	if p.Body, err = t.T("launch." + reason); err != nil {
		return err
	}
	return renderPage(w, "error", p)
}
