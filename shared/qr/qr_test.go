package qr_test

import (
	"image"
	"image/color"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/handoff-health/handoff/shared/qr"
)

// TestSVGDecodes: the drawn code, rasterized module by module, decodes to
// the text with an independent decoder.
func TestSVGDecodes(t *testing.T) {
	for _, text := range []string{
		"http://127.0.0.1:3000/q/AbCdEfGhIjKlMnOpQrStUv",
		"https://handoff.example.org/q/" + strings.Repeat("x", 43),
	} {
		svg, err := qr.SVG(text, `QR code "of" <the> link`)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(svg, `shape-rendering="crispEdges"`) || !strings.Contains(svg, `aria-label="QR code &quot;of&quot; &lt;the&gt; link"`) {
			t.Fatalf("svg lacks crispEdges or the escaped label: %.200s", svg)
		}
		got := decode(t, svg)
		if got != text {
			t.Errorf("decoded %q, want %q", got, text)
		}
	}
}

func TestSVGRefusesBadText(t *testing.T) {
	for _, text := range []string{"", strings.Repeat("a", qr.MaxText+1)} {
		if _, err := qr.SVG(text, "x"); err == nil {
			t.Errorf("SVG of %d bytes: no error", len(text))
		}
	}
}

var (
	viewBoxRE = regexp.MustCompile(`viewBox="0 0 (\d+) \d+"`)
	runRE     = regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-\d+z`)
)

// decode paints the path's runs into an image, 4 pixels a module, and reads
// it back with gozxing.
func decode(t *testing.T, svg string) string {
	t.Helper()
	m := viewBoxRE.FindStringSubmatch(svg)
	if m == nil {
		t.Fatal("no viewBox")
	}
	n, _ := strconv.Atoi(m[1])
	const scale = 4
	img := image.NewGray(image.Rect(0, 0, n*scale, n*scale))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for _, r := range runRE.FindAllStringSubmatch(svg, -1) {
		x, _ := strconv.Atoi(r[1])
		y, _ := strconv.Atoi(r[2])
		w, _ := strconv.Atoi(r[3])
		for px := x * scale; px < (x+w)*scale; px++ {
			for py := y * scale; py < (y+1)*scale; py++ {
				img.Set(px, py, color.Gray{})
			}
		}
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return res.GetText()
}
