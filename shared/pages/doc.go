// Package pages renders everything a person reads from handoff: the patient's
// consent page, the group contact's page, the plain error pages, and the text of
// every email, in English and Spanish.
//
// It is pure rendering. Callers (the HTTP handlers and the dispatcher) pass plain
// view structs and get HTML or text back; nothing here reads a table or sends a
// message. Templates and translations are embedded and parsed once, on first use.
//
// The package also owns what every page response needs: security headers
// (Headers), the one stylesheet (AssetHandler, served at /assets/handoff.css),
// cross-site request refusal (Protect), a stateless anti-CSRF token bound to the
// page's link (CSRF), and strict parsing of the two forms (ParseConsentForm,
// ParseGroupForm).
//
// Privacy rules the package keeps:
//   - pages and emails show only what the view carries; group pages in a closed
//     state and withdrawal emails show nothing about the patient;
//   - emails to a patient carry no clinical word and no group type in their
//     subject, because others may read a patient's mailbox;
//   - everything a patient, clinic or group typed is escaped (html/template);
//   - errors never carry a value the caller sent.
package pages
