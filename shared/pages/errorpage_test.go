package pages

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestRenderError(t *testing.T) {
	cases := []struct {
		status     int
		wantStatus int
		texts      map[string][]string
	}{
		{400, 400, map[string][]string{English: {"Something went wrong"}, Spanish: {"Algo salió mal"}}},
		{403, 403, map[string][]string{English: {"For your safety"}, Spanish: {"Por su seguridad"}}},
		{404, 404, map[string][]string{
			English: {"This link does not work or has expired. Please contact the clinic that sent it to you."},
			Spanish: {"Este enlace no funciona o ya venció."},
		}},
		{405, 405, map[string][]string{English: {"This page cannot do that."}, Spanish: {"Esta página no puede hacer eso."}}},
		{410, 410, map[string][]string{
			English: {"This link does not work or has expired. Please contact the clinic that sent it to you."},
			Spanish: {"Este enlace no funciona o ya venció."},
		}},
		{413, 413, map[string][]string{English: {"The form did not arrive the right way."}, Spanish: {"El formulario no llegó bien."}}},
		{500, 500, map[string][]string{English: {"Something went wrong on our side"}, Spanish: {"Algo salió mal de nuestro lado"}}},
		{503, 503, map[string][]string{English: {"Something went wrong on our side"}, Spanish: {"Algo salió mal de nuestro lado"}}},
		{200, 500, map[string][]string{English: {"Something went wrong on our side"}, Spanish: {"Algo salió mal de nuestro lado"}}},
	}
	for _, tc := range cases {
		for _, lang := range Languages() {
			t.Run(strconv.Itoa(tc.status)+"/"+lang, func(t *testing.T) {
				rec := httptest.NewRecorder()
				RenderError(rec, lang, tc.status)
				if rec.Code != tc.wantStatus {
					t.Errorf("status %d, want %d", rec.Code, tc.wantStatus)
				}
				assertPageHeaders(t, rec.Header())
				body := rec.Body.String()
				assertAccessiblePage(t, "error page", body)
				assertContains(t, "error page", body, tc.texts[lang]...)
				assertContains(t, "error page", body, `<html lang="`+lang+`">`)
				assertLacks(t, "error page", body, "<form", strconv.Itoa(tc.status)+" ")
				assertTranslated(t, "error page", body)
				assertNoClinicalWords(t, "error page", body)
			})
		}
	}
}

func TestRenderErrorSameForUnknownAndExpiredLinks(t *testing.T) {
	var notFound, gone strings.Builder
	RenderError(&notFound, English, http.StatusNotFound)
	RenderError(&gone, English, http.StatusGone)
	if notFound.String() != gone.String() {
		t.Error("an expired link's page differs from an unknown link's page")
	}
}

func TestRenderErrorToPlainWriter(t *testing.T) {
	var b strings.Builder
	RenderError(&b, "es-MX", http.StatusNotFound)
	assertContains(t, "error page", b.String(), `<html lang="es">`, "Este enlace no funciona")
}
