package strftime

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	tm := time.Date(2026, time.March, 5, 7, 8, 9, 123456789, time.FixedZone("CET", 3600))
	for f, want := range map[string]string{
		"%Y-%m-%dT%H:%M:%S":   "2026-03-05T07:08:09",
		"%a %A %b %B %h":      "Thu Thursday Mar March Mar",
		"%e|%k|%l|%I %p %P":   " 5| 7| 7|07 AM am",
		"%j %u %w %y %C":      "064 4 4 26 20",
		"%D %F %T %R %r":      "03/05/26 2026-03-05 07:08:09 07:08 07:08:09 AM",
		"%s":                  "1772690889",
		"%z %Z":               "+0100 CET",
		"%N":                  "123456789",
		"100%% %q literal":    "100% %q literal",
		"%c":                  "Thu Mar  5 07:08:09 2026",
		"%U %W %V %G %g":      "09 09 10 2026 26",
		"trailing %":          "trailing %",
		"%Ey %OH":             "26 07",
		"%n%t":                "\n\t",
		"no conversions here": "no conversions here",
	} {
		if got := string(Format(nil, f, tm)); got != want {
			t.Errorf("Format(%q) = %q, want %q", f, got, want)
		}
	}
}

// TestMatchesDate compares with the system's strftime through date(1).
func TestMatchesDate(t *testing.T) {
	if _, err := exec.LookPath("date"); err != nil {
		t.Skip("no date command")
	}
	const f = "%a %A %b %B %c %C %d %D %e %F %g %G %H %I %j %k %l %m %M %p %r %R %s %S %T %u %U %V %w %W %x %X %y %Y %z %%"
	for _, ts := range []int64{0, 951782400, 1772690889, 1798761599, 1609459200} {
		out, err := exec.Command("date", "-u", "-d", "@"+itoa(ts), "+"+f).Output()
		if err != nil {
			t.Skip("date does not support -d @N")
		}
		want := strings.TrimSuffix(string(out), "\n")
		if got := string(Format(nil, f, time.Unix(ts, 0).UTC())); got != want {
			t.Errorf("at %d:\n got %q\nwant %q", ts, got, want)
		}
	}
}

func itoa(n int64) string { return strings.TrimSpace(string(Format(nil, "%s", time.Unix(n, 0)))) }
