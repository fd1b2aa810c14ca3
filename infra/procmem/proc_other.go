//go:build !linux

package procmem

import "errors"

// Tree needs Linux's /proc.
func Tree(int) ([]Proc, error) {
	return nil, errors.New("process memory is read from /proc: Linux only")
}
