package apptest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/infra/ehrtest"
	"github.com/handoff-health/handoff/shared/dynamo/dynamotest"
)

// TestLaunchKeepsNoPHI plants unique markers in a chart the test EHR
// serves — the Patient's names and contact, Conditions' codes (one that
// maps to a topic, one that maps to none), their display, text and notes,
// and the EHR's own patient id — then runs what reads that chart: a SMART
// launch to the filled form and the referral made from it, a launch refused
// for a reused state, CDS Hooks calls answered from a prefetch of those
// Conditions, and refused for a bad JWT or a call it cannot decide. It
// scans what the system wrote: every log line and metric, every page and
// answer (the form the clinician sees included), the CDS answers, and the
// tables as stored. After mapping, no code, display, Condition text or
// note is anywhere, nor the EHR's patient id, its access token, the
// launch's code or state; the patient's names and contact are only on the
// clinician's own form and sealed at rest.
func TestLaunchKeepsNoPHI(t *testing.T) {
	const (
		patientID = "pat-zqlaunchid"
		given     = "Zqlaunchgiven"
		family    = "Famlaunchfamily"
		email     = "xqlaunchmail@patient.example"
		mobile    = "+14155550177"
	)
	clinical := []marker{
		word("code", "F10.239"), word("code", "F10239"), word("code", "J45.909"), word("code", "66590003"),
		literal("display", "Alcoholplanteddisplay"), literal("display", "Asthmaplanteddisplay"),
		literal("Condition text", "Condplantedtext"), literal("Condition text", "Asthmaplantedtext"),
		literal("clinical note", "Noteplantedsecret"), literal("clinical note", "Notetwoplanted"),
	}
	condition := func(system, code, display, text, note string) map[string]any {
		return map[string]any{"resourceType": "Condition", "id": "c-" + strings.ToLower(text[:6]),
			"clinicalStatus": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}}},
			"code":           map[string]any{"coding": []any{map[string]any{"system": system, "code": code, "display": display}}, "text": text},
			"note":           []any{map[string]any{"text": note}}}
	}
	conds := []map[string]any{
		condition("http://hl7.org/fhir/sid/icd-10-cm", "F10.239", "Alcoholplanteddisplay", "Condplantedtext", "Noteplantedsecret"),
		condition("http://hl7.org/fhir/sid/icd-10-cm", "J45.909", "Asthmaplanteddisplay", "Asthmaplantedtext", "Notetwoplanted"),
	}
	conds[0]["code"].(map[string]any)["coding"] = append(conds[0]["code"].(map[string]any)["coding"].([]any),
		map[string]any{"system": "http://snomed.info/sct", "code": "66590003"})
	patient := map[string]any{"resourceType": "Patient",
		"name":    []any{map[string]any{"use": "official", "given": []string{given}, "family": family}},
		"telecom": []any{map[string]any{"system": "email", "value": email}, map[string]any{"system": "phone", "use": "mobile", "value": mobile}},
		"address": []any{map[string]any{"postalCode": "94110"}}}

	w := newWorld(t, "")
	lw := launchWorldOf(w)
	lw.ehr = ehrtest.Start(t, ehrtest.Config{RedirectURI: lw.redirect, Launches: map[string]string{"l-1": patientID},
		Charts: map[string]ehrtest.Chart{patientID: {PatientResource: patient, ConditionResources: conds}}})
	if st, b := w.Admin(http.MethodPut, "/v1/admin/clinics/lakeside/smart-app", map[string]string{"iss": lw.ehr.FHIR, "client_id": lw.ehr.ClientID}); st != http.StatusOK {
		t.Fatalf("register the SMART app: %d %s", st, b)
	}
	keys := newEHR(t)
	if st, b := w.Admin(http.MethodPut, "/v1/admin/clinics/lakeside/fhir-client", map[string]any{"jwks": json.RawMessage(keys.jwks())}); st != http.StatusOK {
		t.Fatalf("register keys: %d %s", st, b)
	}
	hw := &hookWorld{launchWorld: lw, keys: keys, service: w.Server.URL + "/cds-services/handoff-peer-support"}

	var pages, answers []artefact
	var secrets []marker
	// The launch, to the form filled in from the planted chart.
	b := newBrowser(t)
	st, h, _ := b.get(lw.ehr.LaunchURL(lw.origin+"/launch", "l-1"))
	if st != http.StatusFound {
		t.Fatalf("launch: %d", st)
	}
	cb, err := ehrtest.SignIn(context.Background(), h.Get("Location"), lw.redirect, "dr-rivera", b.jar)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, secret("launch code", cb.Query().Get("code")), secret("launch state", cb.Query().Get("state")))
	if st, _, body := b.get(cb.String()); st != http.StatusSeeOther {
		t.Fatalf("callback: %d %s", st, body)
	}
	_, _, form := b.get(lw.origin + "/clinic/new")
	if v := formValues(form); v["given_name"] != given || v["patient-email"] != email || v["phone"] != mobile || v["topic"] != "alcohol" {
		t.Fatalf("the form from the planted chart: %v", v)
	}
	pages = append(pages, artefact{kind: "the clinician's form", text: form})
	st, _, body := b.get(cb.String()) // the state again
	answers = append(answers, artefact{kind: "error page", text: body})
	if st != http.StatusBadRequest {
		t.Fatalf("a reused state: %d", st)
	}
	res, err := b.c.PostForm(lw.origin+"/clinic/referrals", url.Values{"csrf": {csrfOf(form)}, "form_key": {formKeyOf(form)},
		"given_name": {given}, "email": {email}, "phone": {mobile}, "postal_code": {"94110"}, "topic": {"alcohol"}, "language": {"en"}})
	if err != nil || res.StatusCode != http.StatusSeeOther {
		t.Fatalf("submit: %v %v", res, err)
	}
	res.Body.Close()
	w.settleAll()
	_, _, page := b.get(lw.origin + res.Header.Get("Location"))
	pages = append(pages, artefact{kind: "the referral's page", text: page})
	_, _, list := b.get(lw.origin + "/clinic")
	pages = append(pages, artefact{kind: "the clinic's list", text: list})

	// CDS Hooks calls on the planted chart: prefetched, read with the
	// EHR's token, refused.
	token, err := lw.ehr.AccessToken(context.Background(), "l-1")
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, secret("access token", token))
	prefetched := func() []byte {
		entries := []any{}
		for _, c := range conds {
			c["subject"] = map[string]any{"reference": "Patient/" + patientID}
			entries = append(entries, map[string]any{"resource": c})
		}
		p := map[string]any{}
		for k, v := range patient {
			p[k] = v
		}
		p["id"] = patientID
		req := map[string]any{"hookInstance": newUUID(), "hook": "patient-view", "fhirServer": lw.ehr.FHIR,
			"fhirAuthorization": map[string]any{"access_token": token, "token_type": "Bearer", "expires_in": 300,
				"scope": "patient/Patient.r patient/Condition.rs", "subject": "handoff", "patient": patientID},
			"context":  map[string]any{"userId": "Practitioner/dr-rivera", "patientId": patientID},
			"prefetch": map[string]any{"patient": p, "conditions": map[string]any{"resourceType": "Bundle", "type": "searchset", "entry": entries}}}
		out, _ := json.Marshal(req)
		return out
	}
	read := func() []byte {
		var req map[string]any
		_ = json.Unmarshal(prefetched(), &req)
		delete(req, "prefetch")
		out, _ := json.Marshal(req)
		return out
	}
	for _, c := range []struct {
		token string
		body  []byte
	}{
		{hw.jwt(t, "rsa-1", nil), prefetched()},
		{hw.jwt(t, "rsa-1", nil), read()},
		{hw.jwt(t, "nope", nil), prefetched()},
		{hw.jwt(t, "rsa-1", nil), []byte(strings.Replace(string(prefetched()), `"patient-view"`, `"nope"`, 1))},
	} {
		st, _, out := w.Do(http.MethodPost, "/cds-services/handoff-peer-support", c.body,
			http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + c.token}})
		kind := "CDS answer"
		if st >= 400 {
			kind = "problem body"
		}
		answers = append(answers, artefact{kind: kind, text: string(out)})
	}
	if err := lw.ehr.SetBreak(ehrtest.Break{Hang: "fhir"}); err != nil {
		t.Fatal(err)
	}
	lw.EHR.Decider.Reader.Timeout = 2 * time.Second
	st, _, out := w.Do(http.MethodPost, "/cds-services/handoff-peer-support", read(),
		http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + hw.jwt(t, "rsa-1", nil)}})
	if st != http.StatusPreconditionFailed {
		t.Errorf("an EHR that does not answer the read: %d %s, want 412", st, out)
	}
	answers = append(answers, artefact{kind: "problem body", text: string(out)})

	// Gather and scan.
	arts := append(lineArtefacts("log line", w.Logs.String()), lineArtefacts("metric line", w.Metrics.String())...)
	arts = append(arts, pages...)
	arts = append(arts, answers...)
	tables := dynamotest.Dump(t, w.DB, w.DB.Tables.Referrals) + dynamotest.Dump(t, w.DB, w.DB.Tables.Directory)
	for _, item := range []string{"PATKEY#lakeside#", "EHRAUTH#", "HOOKJTI#"} {
		if !strings.Contains(tables, item) {
			t.Fatalf("the tables hold no %s item: the scan would see nothing of the launch", item)
		}
	}
	arts = append(arts, artefact{kind: "tables as stored", text: tables})
	p := &planted{given: given, family: family, email: email, phone: mobile}
	everyTopic := topicMarkers([]string{"alcohol"})
	scan := &leakScan{t: t}
	kinds := map[string]int{}
	for _, a := range arts {
		kinds[a.kind]++
		scan.none(a, "mapped and dropped", clinical...)
		scan.none(a, "never kept", word("EHR patient id", patientID))
		scan.none(a, "never kept", secrets...)
		scan.none(a, "never", literal("family name", family))
		switch a.kind {
		case "log line", "metric line", "error page", "problem body", "CDS answer":
			scan.none(a, "never", p.names()[0])
			scan.none(a, "never", p.contact()...)
			scan.none(a, "never", everyTopic...)
		case "tables as stored":
			scan.none(a, "sealed", p.names()[0])
			scan.none(a, "sealed", p.contact()...)
		}
	}
	if scan.checks < 200 || kinds["CDS answer"] < 2 || kinds["error page"] < 1 {
		t.Fatalf("too little scanned: %d checks (%s)", scan.checks, kindsText(kinds))
	}
	t.Logf("PHI scan of the launch and the CDS service: %d artefacts (%s), %d checks, %d leaks", len(arts), kindsText(kinds), scan.checks, scan.found)
}
