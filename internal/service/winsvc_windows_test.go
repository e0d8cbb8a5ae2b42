//go:build windows

package service

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/windows/svc"
)

// TestServiceHandler drives the service handler as the Service Control
// Manager does: start pending, running once the broker serves, the
// current status on interrogation, stop pending on Stop, which reaches the
// broker as os.Interrupt, and the broker's exit code as the service's.
func TestServiceHandler(t *testing.T) {
	for _, early := range []bool{false, true} {
		sigs := make(chan os.Signal, 1)
		attached := make(chan struct{})
		h := newHandler(func() int {
			if early {
				<-attached // Stop comes before the broker serves
			}
			attachService(sigs)
			sdNotify("READY=1")
			if <-sigs != os.Interrupt {
				return 1
			}
			return 3
		})
		requests := make(chan svc.ChangeRequest)
		status := make(chan svc.Status, 8)
		exit := make(chan uint32, 1)
		go func() {
			_, code := h.Execute(nil, requests, status)
			exit <- code
		}()
		next := func(want svc.State) svc.Status {
			t.Helper()
			select {
			case s := <-status:
				if s.State != want {
					t.Fatalf("early=%v: status %d, want %d", early, s.State, want)
				}
				return s
			case <-time.After(5 * time.Second):
				t.Fatalf("early=%v: no status %d", early, want)
			}
			return svc.Status{}
		}
		next(svc.StartPending)
		if early {
			requests <- svc.ChangeRequest{Cmd: svc.Stop}
			next(svc.StopPending)
			close(attached) // and it is stopped before it reports running
		} else {
			running := next(svc.Running)
			if running.Accepts&svc.AcceptStop == 0 || running.Accepts&svc.AcceptShutdown == 0 {
				t.Fatalf("running accepts %d, want stop and shutdown", running.Accepts)
			}
			requests <- svc.ChangeRequest{Cmd: svc.Interrogate, CurrentStatus: running}
			next(svc.Running)
			requests <- svc.ChangeRequest{Cmd: svc.Stop}
			next(svc.StopPending)
		}
		select {
		case code := <-exit:
			if code != 3 {
				t.Fatalf("early=%v: exit code %d, want the broker's 3", early, code)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("early=%v: Execute did not return", early)
		}
	}
}
