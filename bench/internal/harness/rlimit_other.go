//go:build !unix

package harness

import "errors"

// RaiseFileLimit: there is no open-file limit to raise here.
func RaiseFileLimit() (uint64, error) {
	return 0, errors.New("open-file limit: not on this system")
}
