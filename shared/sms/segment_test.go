package sms

import (
	"strings"
	"testing"
)

func TestMeasure(t *testing.T) {
	for _, c := range []struct {
		body     string
		enc      Encoding
		units    int
		segments int
	}{
		{"", GSM7, 0, 0},
		{strings.Repeat("a", 160), GSM7, 160, 1},
		{strings.Repeat("a", 161), GSM7, 161, 2},
		{strings.Repeat("a", 306), GSM7, 306, 2},
		{strings.Repeat("a", 307), GSM7, 307, 3},
		// The extension table's characters take two septets each.
		{strings.Repeat("€", 80), GSM7, 160, 1},
		{strings.Repeat("€", 80) + "a", GSM7, 161, 2},
		{"[x]{y}|~^\\", GSM7, 18, 1},
		// Spanish in GSM-7: ñ, é, ¿, ¡ are in the basic alphabet...
		{"¿Señal? ¡Sé, él es Ñoño!", GSM7, 24, 1},
		// ...but á, í, ó, ú are not: one of them makes the text UCS-2.
		{"Clínica", UCS2, 7, 1},
		{strings.Repeat("á", 70), UCS2, 70, 1},
		{strings.Repeat("á", 71), UCS2, 71, 2},
		{strings.Repeat("á", 134), UCS2, 134, 2},
		{strings.Repeat("á", 135), UCS2, 135, 3},
		// Beyond the BMP a character is two UTF-16 code units.
		{"😀", UCS2, 2, 1},
		{strings.Repeat("😀", 35) + "a", UCS2, 71, 2},
		// Ç is in the alphabet; ç (lower case) is not.
		{"Ç", GSM7, 1, 1},
		{"ç", UCS2, 1, 1},
	} {
		got := Measure(c.body)
		if got.Encoding != c.enc || got.Units != c.units || got.Segments != c.segments {
			t.Errorf("Measure(%q) = %+v, want %s %d units %d segments", c.body, got, c.enc, c.units, c.segments)
		}
	}
}
