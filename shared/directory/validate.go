package directory

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // meeting time zones are checked the same on every host, Lambda included

	"github.com/go-playground/validator/v10"
	"golang.org/x/text/language"

	"github.com/handoff-health/handoff/shared/phone"
	"github.com/handoff-health/handoff/shared/problem"
	"github.com/handoff-health/handoff/shared/topics"
)

// The patterns compile on first use, not at start-up: a bounded repetition
// expands into a long program, and every function links this package.
var (
	groupIDPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9-]{1,64}$`) })
	sourcePattern  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`) })
)

// checker holds the validator, built once with handoff's own rules.
type checker struct{ v *validator.Validate }

var groupChecker = sync.OnceValue(func() checker {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	rules := map[string]func(string) bool{
		"groupid":       groupIDPattern().MatchString,
		"source":        sourcePattern().MatchString,
		"topic":         topics.Valid,
		"audience":      ValidAudience,
		"accessibility": ValidAccessibility,
		"hhmm":          func(s string) bool { _, ok := parseHHMM(s); return ok },
		"timezone":      validTimezone,
		"e164phone":     phone.ValidE164,
		"language": func(s string) bool {
			_, err := language.Parse(s)
			return err == nil && len(s) <= 35
		},
	}
	for tag, ok := range rules {
		// Registering a fixed, non-empty tag with a non-nil function cannot fail.
		_ = v.RegisterValidation(tag, func(fl validator.FieldLevel) bool { return ok(fl.Field().String()) })
	}
	v.RegisterStructValidation(groupRules, Group{})
	return checker{v: v}
})

func validTimezone(name string) bool {
	if name == "" || name == "Local" {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

// groupRules are the rules that span fields.
func groupRules(sl validator.StructLevel) {
	g := sl.Current().Interface().(Group)
	if g.InPersonPossible() && !g.HasLocation() {
		sl.ReportError(g.Location, "location", "Location", "location_needed", "")
	}
	if g.HasLocation() && g.Location.Lat == 0 && g.Location.Lon == 0 {
		sl.ReportError(g.Location.Lat, "location.lat", "Lat", "placed", "")
	}
	if g.Contact.Texts && g.Contact.Phone == "" {
		sl.ReportError(g.Contact.Texts, "contact.texts", "Texts", "texts_phone", "")
	}
	if g.OnlinePossible() && g.JoinInstructions == "" {
		linked := false
		for _, m := range g.Meetings {
			linked = linked || m.OnlineURL != ""
		}
		if !linked {
			sl.ReportError(g.Meetings, "meetings", "Meetings", "online_link", "")
		}
	}
}

// Validate checks a listing against the contract. It returns nil or a
// *problem.Error with code Invalid listing every failing field by its JSON
// path (e.g. "meetings[0].time"); no message repeats a value.
//
// Beyond each field's own rules: a group that meets in person (in-person or
// hybrid) needs a location with lat/lon; a group that meets online (online or
// hybrid) needs an online_url on some meeting or join_instructions; a group
// lists at most MaxTopics topics and MaxLanguages languages; a contact who
// takes texts (contact.texts) needs a contact.phone.
func (g *Group) Validate() error {
	err := groupChecker().v.Struct(*g)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return fmt.Errorf("validate group: %w", err)
	}
	fields := make([]problem.FieldError, 0, len(verrs))
	for _, fe := range verrs {
		fields = append(fields, problem.FieldError{Field: fieldPath(fe), Detail: detailFor(fe)})
	}
	return problem.Invalidf(fields, "The group listing is not valid.")
}

// fieldPath turns "Group.meetings[0].day" into "meetings[0].day". Struct-level
// errors already carry a full path as their field name.
func fieldPath(fe validator.FieldError) string {
	ns := fe.Namespace()
	if _, rest, ok := strings.Cut(ns, "."); ok {
		ns = rest
	}
	return ns
}

func detailFor(fe validator.FieldError) string {
	slice := fe.Kind() == reflect.Slice
	switch fe.Tag() {
	case "required":
		return "is required"
	case "min":
		if slice {
			return "needs at least " + fe.Param() + " item(s)"
		}
		return "must be at least " + fe.Param() + " characters long"
	case "max":
		if slice {
			return "may hold at most " + fe.Param() + " items"
		}
		if fe.Kind() == reflect.String {
			return "must be at most " + fe.Param() + " characters long"
		}
		return "must be at most " + fe.Param()
	case "gte":
		return "must be at least " + fe.Param()
	case "lte":
		return "must be at most " + fe.Param()
	case "unique":
		return "must not repeat a value"
	case "oneof":
		return "must be one of: " + strings.ReplaceAll(fe.Param(), " ", ", ")
	case "groupid":
		return "must be 1 to 64 characters of a-z, 0-9 and -"
	case "source":
		return "must be lower-case letters, digits, '.', '_' or '-'"
	case "topic":
		return "is not a topic of the published vocabulary"
	case "audience":
		return "must be one of: " + strings.Join(audiences[:], ", ")
	case "accessibility":
		return "must be one of: " + strings.Join(accessibilityFeatures[:], ", ")
	case "hhmm":
		return "must be a 24-hour time HH:MM"
	case "timezone":
		return "must be an IANA time zone such as America/Chicago"
	case "language":
		return "must be a BCP-47 language tag such as en or es-MX"
	case "email":
		return "must be an email address"
	case "http_url":
		return "must be an http(s) URL"
	case "latitude":
		return "must be a latitude between -90 and 90"
	case "longitude":
		return "must be a longitude between -180 and 180"
	case "iso3166_1_alpha2":
		return "must be a two-letter country code"
	case "location_needed":
		return "is required for an in-person or hybrid group"
	case "placed":
		return "set lat and lon, or a US postal_code to place the group"
	case "e164phone":
		return "must be a phone number in E.164 form, such as +14155550100 (or a national number, with the listing's location.country)"
	case "texts_phone":
		return "needs contact.phone: the number the contact agreed to get referral notices at"
	case "online_link":
		return "an online or hybrid group needs an online_url on a meeting, or join_instructions"
	}
	return "is not valid"
}

// SkipReason says in plain words why a listing is left out of an import:
// for a validation error from Validate, its failing fields ("listing not
// valid: contact.email must be an email address"). Like Validate's errors,
// it never repeats a value.
func SkipReason(err error) string {
	var pe *problem.Error
	if !errors.As(err, &pe) || len(pe.Fields) == 0 {
		return "the listing could not be stored"
	}
	parts := make([]string, len(pe.Fields))
	for i, f := range pe.Fields {
		parts[i] = f.Field + " " + f.Detail
	}
	return "listing not valid: " + strings.Join(parts, "; ")
}
