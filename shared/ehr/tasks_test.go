package ehr

import (
	"reflect"
	"testing"

	"github.com/handoff-health/handoff/shared/fhir"
)

// TestCreateTaskTakesDecodedValues: the Task create use case receives what
// the body was decoded into, once (fhir.ReadTaskCreate, through
// intake.ReadTask): typed values all the way down, no raw JSON, bytes, map
// or interface a second decode could start from.
func TestCreateTaskTakesDecodedValues(t *testing.T) {
	m, ok := reflect.TypeFor[*Service]().MethodByName("CreateTask")
	if !ok {
		t.Fatal("no CreateTask")
	}
	seen := map[reflect.Type]bool{}
	var walk func(path string, ty reflect.Type)
	walk = func(path string, ty reflect.Type) {
		if seen[ty] {
			return
		}
		seen[ty] = true
		switch ty.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			if ty.Kind() == reflect.Slice && ty.Elem().Kind() == reflect.Uint8 {
				t.Errorf("%s is %s: raw bytes", path, ty)
				return
			}
			walk(path+"[]", ty.Elem())
		case reflect.Map, reflect.Interface, reflect.Func, reflect.Chan:
			if ty.String() != "error" {
				t.Errorf("%s is %s: not a decoded value", path, ty)
			}
		case reflect.Struct:
			for i := range ty.NumField() {
				if f := ty.Field(i); f.IsExported() {
					walk(path+"."+f.Name, f.Type)
				}
			}
		}
	}
	for i := 2; i < m.Type.NumIn(); i++ { // after the receiver and the context
		walk(m.Type.In(i).String(), m.Type.In(i))
	}
	if m.Type.NumIn() != 4 || m.Type.In(3) != reflect.TypeOf(fhir.TaskCreate{}) {
		t.Fatalf("CreateTask is %s: it should take the fhir.TaskCreate read from the body", m.Type)
	}
}
