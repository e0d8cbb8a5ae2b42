package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// This file reads CPU time and memory of this process, of a broker process
// and of the whole machine from getrusage and /proc (Linux), so that a run
// can say how much of the machine the generator itself took.

// clockTicks is USER_HZ, the unit of /proc/PID/stat times. It is 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// ProcCPU returns the user plus system CPU time process pid has used.
func ProcCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("broker CPU time: %w", err)
	}
	// The command name (field 2) may contain spaces: fields are counted
	// from the closing parenthesis, after which utime and stime are the
	// 12th and 13th.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/PID/stat format")
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc/PID/stat format")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// ProcRSS returns the resident set size of process pid in bytes.
func ProcRSS(pid int) (int64, error) { return statusBytes(pid, "VmRSS") }

// ProcPeakRSS returns the largest resident set size process pid has had.
func ProcPeakRSS(pid int) (int64, error) { return statusBytes(pid, "VmHWM") }

// statusBytes returns a "Vm..." field of /proc/PID/status in bytes.
func statusBytes(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("broker memory: %w", err)
	}
	for line := range strings.Lines(string(data)) {
		name, value, ok := strings.Cut(line, ":")
		if !ok || name != field {
			continue
		}
		if f := strings.Fields(value); len(f) > 0 {
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s: %w", field, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// MachineBusy returns the CPU time all processors of the machine have
// spent on anything but idling, from the first line of /proc/stat. With
// the broker's and the generator's share taken out, it tells whether
// something else competed for the processors during a run.
func MachineBusy() time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	// user nice system idle iowait irq softirq steal [guest guest_nice]:
	// guest time is already counted in user, idle and iowait are not busy.
	for i, v := range f[1:min(len(f), 9)] {
		if i == 3 || i == 4 {
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// cpuMeter measures CPU use over a window: the generator's, the broker's
// when its pid is known, and the machine's.
type cpuMeter struct {
	pid                   int
	start                 time.Time
	self0, broker0, busy0 time.Duration
	brokerErr             error
}

func startCPUMeter(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid, start: time.Now(), self0: SelfCPU(), busy0: MachineBusy()}
	if pid > 0 {
		m.broker0, m.brokerErr = ProcCPU(pid)
	}
	return m
}

// stop fills the CPU figures of r for the window since start.
func (m *cpuMeter) stop(r *Result) error {
	window := time.Since(m.start).Seconds()
	self := SelfCPU() - m.self0
	busy := MachineBusy() - m.busy0
	r.GeneratorCPU = self
	r.GeneratorCPUPercent = 100 * self.Seconds() / window
	others := busy - self
	if m.pid > 0 {
		if m.brokerErr != nil {
			return m.brokerErr
		}
		b1, err := ProcCPU(m.pid)
		if err != nil {
			return err
		}
		r.BrokerCPU = b1 - m.broker0
		r.BrokerCPUPercent = 100 * r.BrokerCPU.Seconds() / window
		others -= r.BrokerCPU
	}
	r.OtherCPUPercent = max(0, 100*others.Seconds()/window)
	return nil
}
