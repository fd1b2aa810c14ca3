// Package qr draws QR codes as inline SVG, for pages that show a link to be
// opened on another device (the clinic's page shows the patient's consent
// link this way). It wraps github.com/yeqown/go-qrcode/v2, which encodes;
// the drawing is done here, as one SVG path, so a page needs no image file,
// no script and no style of its own.
package qr

import (
	"fmt"
	"strconv"
	"strings"

	qrcode "github.com/yeqown/go-qrcode/v2"
)

// quietZone is the blank border, in modules, the standard asks for around a
// code (ISO/IEC 18004: four).
const quietZone = 4

// MaxText bounds what SVG encodes: a link, not a document.
const MaxText = 512

// SVG returns an <svg> element drawing text as a QR code (error correction
// level M, byte mode), label as its accessible name (role="img",
// aria-label). Each dark module is a unit square of one path, drawn with
// shape-rendering="crispEdges" so that no seam between modules can defeat a
// decoder; the viewBox leaves the standard quiet zone, and the element scales
// to its container. It returns an error for an empty text or one longer
// than MaxText. The result holds only numbers and the escaped label: it is
// safe to put in a page as it is.
func SVG(text, label string) (string, error) {
	if text == "" || len(text) > MaxText {
		return "", fmt.Errorf("qr: the text must be 1 to %d bytes", MaxText)
	}
	code, err := qrcode.NewWith(text, qrcode.WithErrorCorrectionLevel(qrcode.ErrorCorrectionMedium),
		qrcode.WithEncodingMode(qrcode.EncModeByte))
	if err != nil {
		return "", fmt.Errorf("qr: encode: %w", err)
	}
	var d drawing
	if err := code.Save(&d); err != nil {
		return "", fmt.Errorf("qr: draw: %w", err)
	}
	return d.svg(label), nil
}

// drawing is a qrcode.Writer that keeps the dark modules, row by row.
type drawing struct {
	size int
	dark [][]bool // [y][x]
}

func (d *drawing) Write(m qrcode.Matrix) error {
	d.size = m.Width()
	d.dark = make([][]bool, m.Height())
	for y := range d.dark {
		d.dark[y] = make([]bool, d.size)
	}
	m.Iterate(qrcode.IterDirection_ROW, func(x, y int, v qrcode.QRValue) {
		d.dark[y][x] = v.IsSet()
	})
	return nil
}

func (d *drawing) Close() error { return nil }

// svg writes the code: each run of dark modules in a row is one rectangle
// of the path ("M x y h n v 1 h -n z").
func (d *drawing) svg(label string) string {
	full := strconv.Itoa(d.size + 2*quietZone)
	var p strings.Builder
	for y, row := range d.dark {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < len(row) && row[x] {
				x++
			}
			fmt.Fprintf(&p, "M%d %dh%dv1h-%dz", start+quietZone, y+quietZone, x-start, x-start)
		}
	}
	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ` + full + " " + full + `" role="img" aria-label="`)
	b.WriteString(escape(label))
	b.WriteString(`" shape-rendering="crispEdges" class="qr"><rect width="` + full + `" height="` + full + `" fill="#fff"/><path fill="#000" d="`)
	b.WriteString(p.String())
	b.WriteString(`"/></svg>`)
	return b.String()
}

// escape makes a label safe inside a double-quoted attribute.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;").Replace(s)
}
