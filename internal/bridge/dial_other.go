//go:build !linux

package bridge

import "errors"

// haveUserTimeout reports whether bridge_tcp_user_timeout can be set here:
// TCP_USER_TIMEOUT is Linux's.
const haveUserTimeout = false

func setUserTimeout(uintptr, int) error {
	return errors.New("TCP_USER_TIMEOUT is not available on this system")
}
