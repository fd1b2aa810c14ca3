package sms

// Encoding is how a text travels: GSM-7 when every character is in the GSM
// 03.38 alphabet (or its extension table), else UCS-2.
type Encoding string

const (
	GSM7 Encoding = "GSM"
	UCS2 Encoding = "UCS2"
)

// gsmBasic is the GSM 03.38 default alphabet; gsmExtension the characters
// reached through the escape, each taking two septets.
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtension = "\f^{}\\[~]|€"
)

var basic, extension = runeSet(gsmBasic), runeSet(gsmExtension)

func runeSet(s string) map[rune]bool {
	m := map[rune]bool{}
	for _, r := range s {
		m[r] = true
	}
	return m
}

// Count is what a text costs on the air.
type Count struct {
	Encoding Encoding
	Units    int // septets for GSM-7, UTF-16 code units for UCS-2
	Segments int
}

// Measure counts body as carriers do: GSM-7 with the extension table's
// characters counting two, 160 septets in one segment and 153 per segment
// of a longer text; else UCS-2, 70 code units in one and 67 per segment
// (a character beyond the Basic Multilingual Plane takes two).
func Measure(body string) Count {
	septets, gsm := 0, true
	for _, r := range body {
		switch {
		case basic[r]:
			septets++
		case extension[r]:
			septets += 2
		default:
			gsm = false
		}
	}
	if gsm {
		return Count{Encoding: GSM7, Units: septets, Segments: segments(septets, 160, 153)}
	}
	units := 0
	for _, r := range body {
		units++
		if r > 0xFFFF {
			units++
		}
	}
	return Count{Encoding: UCS2, Units: units, Segments: segments(units, 70, 67)}
}

func segments(n, single, multi int) int {
	switch {
	case n == 0:
		return 0
	case n <= single:
		return 1
	default:
		return (n + multi - 1) / multi
	}
}
