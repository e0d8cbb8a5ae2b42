package topic

import (
	"errors"
	"strings"
	"testing"
)

// refMatch is the obvious, allocating implementation of Match that the
// fast one is checked against.
func refMatch(filter, name string) bool {
	f, n := strings.Split(filter, "/"), strings.Split(name, "/")
	if strings.HasPrefix(name, "$") && (f[0] == "+" || f[0] == "#") {
		return false
	}
	for i, level := range f {
		if level == "#" {
			return true
		}
		if i >= len(n) || (level != "+" && level != n[i]) {
			return false
		}
	}
	return len(f) == len(n)
}

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		want error
	}{
		{"a", nil},
		{"a/b/c", nil},
		{"/", nil},
		{"//", nil},
		{"/finance", nil},
		{"$SYS/broker/uptime", nil},
		{"$share/g/a", nil}, // a name, not a filter: the broker's ACL denies it
		{" ", nil},
		{"", ErrEmpty},
		{"a/+", ErrWildcardInName},
		{"a/#", ErrWildcardInName},
		{"+", ErrWildcardInName},
		{"#", ErrWildcardInName},
		{"a+b", ErrWildcardInName},
		{"sport#", ErrWildcardInName},
		{strings.Repeat("x", MaxLen), nil},
		{strings.Repeat("x", MaxLen+1), ErrTooLong},
		// Mosquitto's limit of 200 separators.
		{strings.Repeat("/", MaxLevels), nil},
		{strings.Repeat("abc/", MaxLevels) + "d", nil},
		{strings.Repeat("/", MaxLevels+1), ErrTooManyLevels},
		{strings.Repeat("abc/", MaxLevels+1) + "d", ErrTooManyLevels},
	}
	for _, tt := range tests {
		if got := ValidateName(tt.name); !errors.Is(got, tt.want) {
			t.Errorf("ValidateName(%.20q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestValidateNameAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = ValidateName("sensors/kitchen/temperature") }); n != 0 {
		t.Errorf("ValidateName allocates %v times", n)
	}
}

func TestValidateFilter(t *testing.T) {
	tests := []struct {
		filter string
		want   error
	}{
		{"a", nil},
		{"a/b", nil},
		{"#", nil},
		{"+", nil},
		{"/", nil},
		{"+/+", nil},
		{"/+", nil},
		{"+/", nil},
		{"sport/tennis/player1/#", nil},
		{"sport/tennis/#", nil},
		{"sport/+/player1", nil},
		{"+/tennis/#", nil},
		{"a//#", nil},
		{"$SYS/#", nil},
		{"$share", nil}, // not "$share/": an ordinary level
		{"$shared/g/a", nil},
		{"$share/g/a", nil},
		{"$share/g/#", nil},
		{"$share/g/+/x/#", nil},
		{"$share/g//", nil},
		{"$share/g/$share/h/x", nil},
		{"", ErrEmpty},
		{"sport/tennis#", ErrMultiLevel},
		{"sport/tennis/#/ranking", ErrMultiLevel},
		{"#/", ErrMultiLevel},
		{"##", ErrMultiLevel},
		{"a/#b", ErrMultiLevel},
		{"sport+", ErrSingleLevel},
		{"+a", ErrSingleLevel},
		{"a/++", ErrSingleLevel},
		{"a/b+/c", ErrSingleLevel},
		{"+#", ErrSingleLevel},
		{"$share/", ErrShareName},
		{"$share//a", ErrShareName},
		{"$share/g+/a", ErrShareName},
		{"$share/+/a", ErrShareName},
		{"$share/#/a", ErrShareName},
		{"$share/g", ErrShareFilter},
		{"$share/g/", ErrShareFilter},
		{"$share/g/a#", ErrMultiLevel},
		{"$share/g/a+", ErrSingleLevel},
		{strings.Repeat("x", MaxLen), nil},
		{strings.Repeat("x", MaxLen+1), ErrTooLong},
		{strings.Repeat("/", MaxLevels), nil},
		{strings.Repeat("/", MaxLevels+1), ErrTooManyLevels},
		{strings.Repeat("+/", MaxLevels) + "#", nil},
		{strings.Repeat("/", 65535), ErrTooManyLevels},
	}
	for _, tt := range tests {
		if got := ValidateFilter(tt.filter); !errors.Is(got, tt.want) {
			t.Errorf("ValidateFilter(%.20q) = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

func TestSplitShared(t *testing.T) {
	tests := []struct {
		filter, group, inner string
		ok                   bool
	}{
		{"$share/g/a/b", "g", "a/b", true},
		{"$share/group/#", "group", "#", true},
		{"$share/g/", "g", "", true},
		{"$share/g", "g", "", true},
		{"$share/", "", "", true},
		{"$share//a", "", "a", true},
		{"$share", "", "", false},
		{"$SHARE/g/a", "", "", false},
		{"a/$share/g/a", "", "", false},
		{"a/b", "", "", false},
		{"#", "", "", false},
	}
	for _, tt := range tests {
		group, inner, ok := SplitShared(tt.filter)
		if group != tt.group || inner != tt.inner || ok != tt.ok {
			t.Errorf("SplitShared(%q) = %q, %q, %v; want %q, %q, %v",
				tt.filter, group, inner, ok, tt.group, tt.inner, tt.ok)
		}
	}
}

func TestHasWildcard(t *testing.T) {
	for filter, want := range map[string]bool{"a/b": false, "": false, "a/+": true, "#": true, "$share/g/a": false} {
		if got := HasWildcard(filter); got != want {
			t.Errorf("HasWildcard(%q) = %v", filter, got)
		}
	}
}

// matchTests are the specification's examples and the edge cases of
// empty levels and '$' topics.
var matchTests = []struct {
	filter, name string
	want         bool
}{
	// Multi-level wildcard.
	{"sport/tennis/player1/#", "sport/tennis/player1", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
	{"sport/tennis/player1/#", "sport/tennis/player2", false},
	{"sport/#", "sport", true},
	{"sport/#", "sport/", true},
	{"sport/#", "sports", false},
	{"#", "sport", true},
	{"#", "/", true},
	{"#", "a/b/c", true},
	// Single-level wildcard.
	{"sport/tennis/+", "sport/tennis/player1", true},
	{"sport/tennis/+", "sport/tennis/player2", true},
	{"sport/tennis/+", "sport/tennis/player1/ranking", false},
	{"sport/+", "sport", false},
	{"sport/+", "sport/", true},
	{"a/+", "a/", true},
	{"+", "a", true},
	{"+", "", true},
	{"+", "/finance", false},
	{"+/+", "/finance", true},
	{"/+", "/finance", true},
	{"+/+", "a", false},
	{"+/tennis/#", "sport/tennis", true},
	{"+/tennis/#", "sport/tennis/x/y", true},
	{"sport/+/player1", "sport/tennis/player1", true},
	{"a/+/#", "a/b", true},
	{"a/+/#", "a", false},
	// Empty levels are levels.
	{"a//b", "a//b", true},
	{"a//b", "a/b", false},
	{"a/+/b", "a//b", true},
	{"/", "/", true},
	{"/", "", false},
	{"+/+", "/", true},
	{"/#", "/", true},
	{"/#", "a", false},
	// Literal.
	{"a/b", "a/b", true},
	{"a/b", "a/b/c", false},
	{"a/b/c", "a/b", false},
	{"a/b", "A/b", false},
	// [MQTT-4.7.2-1] '$' topics.
	{"#", "$SYS/monitor", false},
	{"+/monitor", "$SYS/monitor", false},
	{"+", "$SYS", false},
	{"#", "$", false},
	{"$SYS/#", "$SYS/x", true},
	{"$SYS/#", "$SYS", true},
	{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
	{"$SYS/+", "$SYS/monitor", true},
	{"a/#", "a/$x", true},
	{"a/+", "a/$x", true},
	{"+/$x", "a/$x", true},
	// No $share handling in Match.
	{"$share/g/a", "$share/g/a", true},
	{"$share/g/a", "a", false},
}

func TestMatch(t *testing.T) {
	for _, tt := range matchTests {
		if got := Match(tt.filter, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.filter, tt.name, got, tt.want)
		}
		if got := refMatch(tt.filter, tt.name); got != tt.want {
			t.Errorf("refMatch(%q, %q) = %v, want %v", tt.filter, tt.name, got, tt.want)
		}
	}
}

func TestMatchAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = Match("a/+/c/#", "a/b/c/d/e") }); n != 0 {
		t.Errorf("Match allocates %v times", n)
	}
}

func FuzzValidateFilter(f *testing.F) {
	for _, tt := range matchTests {
		f.Add(tt.filter)
	}
	for _, s := range []string{"$share/g/a", "$share//a", "$share/g", "a/#/b", "+a", "##", "a//+/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, filter string) {
		err := ValidateFilter(filter)
		group, inner, shared := SplitShared(filter)
		if shared {
			if err != nil {
				return
			}
			if err := ValidateFilter(inner); err != nil {
				t.Fatalf("%q valid but inner %q is not: %v", filter, inner, err)
			}
			if group == "" || strings.ContainsAny(group, "/+#") {
				t.Fatalf("%q valid with group %q", filter, group)
			}
			return
		}
		// An independent statement of the rules, level by level.
		valid := filter != "" && len(filter) <= MaxLen
		levels := strings.Split(filter, "/")
		for i, level := range levels {
			if strings.Contains(level, "#") && (level != "#" || i != len(levels)-1) {
				valid = false
			}
			if strings.Contains(level, "+") && level != "+" {
				valid = false
			}
		}
		if valid != (err == nil) {
			t.Fatalf("ValidateFilter(%q) = %v, want valid=%v", filter, err, valid)
		}
		if err == nil && !HasWildcard(filter) && ValidateName(filter) != nil {
			t.Fatalf("%q: a valid literal filter is not a valid name", filter)
		}
	})
}

func FuzzMatch(f *testing.F) {
	for _, tt := range matchTests {
		f.Add(tt.filter, tt.name)
	}
	f.Fuzz(func(t *testing.T, filter, name string) {
		got := Match(filter, name)
		if ValidateFilter(filter) != nil {
			return // only required not to panic
		}
		if want := refMatch(filter, name); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", filter, name, got, want)
		}
		if ValidateName(name) == nil && ValidateFilter(filter) == nil && !HasWildcard(filter) {
			if Match(filter, name) != (filter == name) {
				t.Fatalf("literal filter %q vs %q", filter, name)
			}
		}
	})
}
