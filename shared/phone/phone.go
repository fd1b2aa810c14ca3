// Package phone checks and normalises phone numbers to E.164.
//
// It is deliberately small: the full libphonenumber metadata costs a Lambda
// about 5.5 MB of binary and 23 ms of INIT, for checks intake does not need.
// It knows every country calling code, the numbering plan of North America
// (+1) in detail, and the national trunk prefix of most countries; it refuses
// what cannot be a dialable number and accepts some numbers that are not
// assigned (which only the network knows).
package phone

import (
	"strings"
	"sync"
)

// callingCodes are the ITU-T E.164 country calling codes in service, built on
// first use rather than at every function's start-up.
var callingCodes = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, c := range strings.Fields(`1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49
51 52 53 54 55 56 57 58 60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98
211 212 213 216 218 220 221 222 223 224 225 226 227 228 229 230 231 232 233 234 235 236 237 238 239
240 241 242 243 244 245 246 247 248 249 250 251 252 253 254 255 256 257 258 260 261 262 263 264 265
266 267 268 269 290 291 297 298 299 350 351 352 353 354 355 356 357 358 359 370 371 372 373 374 375
376 377 378 379 380 381 382 383 385 386 387 389 420 421 423 500 501 502 503 504 505 506 507 508 509
590 591 592 593 594 595 596 597 598 599 670 672 673 674 675 676 677 678 679 680 681 682 683 685 686
687 688 689 690 691 692 800 808 850 852 853 855 856 870 878 880 881 882 883 886 888 960 961 962 963
964 965 966 967 968 970 971 972 973 974 975 976 977 979 992 993 994 995 996 998`) {
		m[c] = true
	}
	return m
})

// regionCodes maps ISO 3166-1 regions to calling codes, for numbers written
// nationally. Regions not listed need the number in international form.
var regionCodes = map[string]string{
	"US": "1", "CA": "1", "PR": "1", "GU": "1", "VI": "1", "AS": "1", "MP": "1",
	"MX": "52", "GB": "44", "IE": "353", "ES": "34", "FR": "33", "DE": "49", "IT": "39", "PT": "351",
	"NL": "31", "BE": "32", "CH": "41", "AT": "43", "SE": "46", "NO": "47", "DK": "45", "FI": "358",
	"PL": "48", "AU": "61", "NZ": "64", "BR": "55", "AR": "54", "CO": "57", "CL": "56", "PE": "51",
	"IN": "91", "PH": "63", "CN": "86", "JP": "81", "KR": "82", "DO": "1", "JM": "1", "SV": "503",
	"GT": "502", "HN": "504", "NI": "505", "CR": "506", "PA": "507", "VE": "58", "EC": "593", "CU": "53",
}

// nanp reports whether a country code 1 number's national part is valid: area
// code and exchange code each NXX (N = 2–9); the area code not an N11 service
// code, not N9X or 37X/96X (reserved for expansion) and not 555 (unassigned).
func nanp(national string) bool {
	if len(national) != 10 {
		return false
	}
	if national[0] < '2' || national[3] < '2' {
		return false
	}
	area := national[:3]
	switch {
	case area[1] == '1' && area[2] == '1', area[1] == '9',
		area[:2] == "37", area[:2] == "96", area == "555":
		return false
	}
	return true
}

// split separates an E.164 number's digits into country code and national part.
func split(digits string) (cc, national string, ok bool) {
	for n := 1; n <= 3 && n < len(digits); n++ {
		if callingCodes()[digits[:n]] {
			return digits[:n], digits[n:], true
		}
	}
	return "", "", false
}

// ValidE164 reports whether s is a phone number written in E.164 form: "+",
// a country calling code in service, and a national number of a possible length.
func ValidE164(s string) bool {
	if len(s) < 9 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	digits := s[1:]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	cc, national, ok := split(digits)
	if !ok {
		return false
	}
	if cc == "1" {
		return nanp(national)
	}
	return len(national) >= 4 && len(national) <= 14 && national[0] != '0'
}

// ToE164 converts a number as people write it ("(415) 555-0100",
// "+44 20 7946 0958", "0044…", "020 7946 0958" in GB) to E.164, reading a
// national number in region (ISO 3166-1; "" means US). ok is false when it
// cannot be a valid number.
func ToE164(s, region string) (string, bool) {
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '/' || r == '\u00a0':
		default:
			return "", false
		}
	}
	n := b.String()
	switch {
	case strings.HasPrefix(n, "+"):
	case strings.HasPrefix(n, "00"):
		n = "+" + n[2:]
	case strings.HasPrefix(n, "011") && len(n) > 11:
		n = "+" + n[3:]
	default:
		if region == "" {
			region = "US"
		}
		cc, ok := regionCodes[strings.ToUpper(region)]
		if !ok {
			return "", false
		}
		if cc == "1" && len(n) == 11 && n[0] == '1' {
			n = n[1:]
		}
		n = "+" + cc + strings.TrimPrefix(n, "0")
	}
	if !ValidE164(n) {
		return "", false
	}
	return n, true
}
