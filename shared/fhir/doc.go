// Package fhir is handoff's FHIR R4 as typed Go values: the parts of the
// resources it reads (a ServiceRequest with its Patient and requester, a
// Gravity referral Task, a transaction Bundle, a Subscription of the R5
// Backport for R4) and the resources it answers (the Task as handoff holds
// it, searchset and transaction-response Bundles, OperationOutcome, the
// SubscriptionStatus and its notification Bundles, the
// CapabilityStatement), and what it reads of a patient's chart in an EHR
// (a Patient, a search of its Conditions: ReadResource, ReadSearchset).
//
// Reading decodes a body once: a Bundle's entries and a resource's
// contained resources are decoded by their resourceType into the types
// here, each once, and resources handoff does not read (Organization,
// Observation, …) are kept only as their type and id. Elements handoff
// does not read (note, supportingInfo, extensions, text) are never decoded.
// A referral read here (Referral) is mapped to handoff's intake value by
// shared/intake, whichever way it came: a signed webhook's ServiceRequest
// or Bundle, or a Task posted to the FHIR API.
//
// Errors are *problem.Error: Malformed for a body that is not a JSON
// object, Invalid naming the FHIR element (Task.focus, Bundle.entry) and
// never a value.
//
// github.com/samply/golang-fhir-models (v0.3.2) was weighed for these types
// and not taken: its resources have no contained (DomainResource.contained
// is missing), no primitive extensions (a Subscription's _payload), and its
// code types refuse an unknown code in any element, including the many
// handoff ignores.
package fhir
