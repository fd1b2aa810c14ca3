package templatetest

import (
	"fmt"

	"github.com/handoff-health/handoff/infra/cfnyaml"
)

// alarmSpec is what one alarm watches: a metric of a namespace, for a
// resource of the template (dimension and the resource it refers to), or
// account-wide when dim is "".
type alarmSpec struct {
	name, id, namespace, metric, dim, resource string
}

var alarmSpecs = []alarmSpec{
	{"alarm: dispatch errors", "DispatchErrorsAlarm", "AWS/Lambda", "Errors", "FunctionName", "DispatchFunction"},
	{"alarm: stream iterator age", "StreamIteratorAgeAlarm", "AWS/Lambda", "IteratorAge", "FunctionName", "DispatchFunction"},
	{"alarm: dead-letter queue depth", "DeadLetterAlarm", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "DeadLetterQueue"},
	{"alarm: API 5xx rate", "Api5xxAlarm", "AWS/ApiGateway", "5xx", "ApiId", "HttpApi"},
	{"alarm: webhook delivery failures", "WebhookFailuresAlarm", "handoff", "WebhookFailures", "Function", ""},
	{"alarm: SES bounce rate", "SesBounceRateAlarm", "AWS/SES", "Reputation.BounceRate", "", ""},
	{"alarm: SES complaint rate", "SesComplaintRateAlarm", "AWS/SES", "Reputation.ComplaintRate", "", ""},
}

func init() {
	for _, a := range alarmSpecs {
		checks = append(checks, check{a.name, checkAlarm(a)})
	}
	checks = append(checks, check{"alarms reach the alarm topic and the optional email", checkAlarmTopic})
}

// checkAlarm checks that the alarm exists, watches its metric (directly or in
// metric math) for its resource, and notifies the AlarmTopic.
func checkAlarm(a alarmSpec) func(stack) []string {
	return func(s stack) []string {
		if s.typeOf(a.id) != "AWS::CloudWatch::Alarm" {
			return []string{a.id + ": no such AWS::CloudWatch::Alarm"}
		}
		p := s.props(a.id)
		var out []string
		metrics := []any{map[string]any{"Namespace": p["Namespace"], "MetricName": p["MetricName"], "Dimensions": p["Dimensions"]}}
		for _, m := range cfnyaml.List(p["Metrics"]) {
			metrics = append(metrics, dig(m, "MetricStat", "Metric"))
		}
		found := false
		for _, m := range metrics {
			if cfnyaml.String(dig(m, "Namespace")) != a.namespace || cfnyaml.String(dig(m, "MetricName")) != a.metric {
				continue
			}
			if a.dim == "" {
				found = true
				continue
			}
			for _, d := range cfnyaml.List(dig(m, "Dimensions")) {
				if cfnyaml.String(dig(d, "Name")) == a.dim && (a.resource == "" || target(dig(d, "Value")) == a.resource) {
					found = true
				}
			}
		}
		if !found {
			out = append(out, fmt.Sprintf("%s: does not watch %s %s for %s", a.id, a.namespace, a.metric, a.resource))
		}
		notifies := false
		for _, act := range cfnyaml.List(p["AlarmActions"]) {
			notifies = notifies || target(act) == "AlarmTopic"
		}
		if !notifies {
			out = append(out, a.id+": does not notify AlarmTopic")
		}
		return out
	}
}

func checkAlarmTopic(s stack) []string {
	var out []string
	if s.typeOf("AlarmTopic") != "AWS::SNS::Topic" {
		out = append(out, "AlarmTopic: no such SNS topic")
	}
	if target(s.props("AlarmEmailSubscription")["TopicArn"]) != "AlarmTopic" ||
		target(s.props("AlarmEmailSubscription")["Endpoint"]) != "AlarmEmail" {
		out = append(out, "AlarmEmailSubscription: does not subscribe AlarmEmail to AlarmTopic")
	}
	if cfnyaml.String(s.resource("AlarmEmailSubscription")["Condition"]) != "AlarmByEmail" {
		out = append(out, "AlarmEmailSubscription: not conditional on an AlarmEmail being given")
	}
	if s.typeOf("Dashboard") != "AWS::CloudWatch::Dashboard" {
		out = append(out, "Dashboard: no CloudWatch dashboard")
	}
	return out
}
