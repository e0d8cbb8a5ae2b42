//go:build !unix

package service

import (
	"errors"
	"os"
)

// Without SIGHUP there is nothing to wait for.
var barrierSignal os.Signal

func raise(os.Signal) error { return errors.ErrUnsupported }
