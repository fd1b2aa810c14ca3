package cfnyaml

import (
	"reflect"
	"testing"
)

// TestParseLongForm: each short-form tag reads as CloudFormation's long
// form; plain YAML reads as plain values.
func TestParseLongForm(t *testing.T) {
	doc, err := Parse([]byte(`
Resources:
  Fn:
    Properties:
      Role: !GetAtt FnRole.Arn
      Table: !Ref Table
      Name: !Sub "${AWS::StackName}-fn"
      Size: !If [Big, 1024, 256]
      Plain: [1, "two", true]
`))
	if err != nil {
		t.Fatal(err)
	}
	got := doc["Resources"].(map[string]any)["Fn"].(map[string]any)["Properties"]
	want := map[string]any{
		"Role":  map[string]any{"Fn::GetAtt": []any{"FnRole", "Arn"}},
		"Table": map[string]any{"Ref": "Table"},
		"Name":  map[string]any{"Fn::Sub": "${AWS::StackName}-fn"},
		"Size":  map[string]any{"Fn::If": []any{"Big", 1024, 256}},
		"Plain": []any{1, "two", true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
	if _, err := Parse([]byte("- a list\n")); err == nil {
		t.Error("a template that is a list was read")
	}
}
