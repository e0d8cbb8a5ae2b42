package dynsec

import (
	"github.com/midge-mqtt/midge/internal/auth"

	"math"
	"strings"
	"testing"
)

func TestTopicMatches(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+", "a/", true},
		{"a/+", "a", false},
		{"+/+", "/x", true},
		{"+", "x", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/+/#", "a/b", true},
		{"a/+/#", "a", false},
		{"#", "a/b", true},
		{"#", "/", true},
		{"/#", "/a", true},
		{"a//b", "a//b", true},
		{"a/+/b", "a//b", true},
		// $ topics only match $ filters.
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"$SYS/+", "$SYS/x", true},
		{"$CONTROL/dynamic-security/#", "$CONTROL/dynamic-security/v1", true},
		{"$a", "a", false},
		// Invalid input matches nothing.
		{"", "a", false},
		{"a", "", false},
		{"a/#", "a/+", false},
		{"#", "a/#", false},
		{"a+", "a+", false},
		{"a/b#", "a/b#", false},
		{"+a", "xa", false},
		{"a/#/b", "a/x/b", false},
		// Filters loaded unchecked still match up to where they turn
		// invalid, as in Mosquitto.
		{"a/b/#/c", "a/x", false},
		{"x#", "y", false},
	} {
		if got := topicMatches(tc.filter, tc.topic); got != tc.want {
			t.Errorf("topicMatches(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

// The cases of the plugin's own test of sub_acl_check.
func TestSubscriptionMatches(t *testing.T) {
	for _, tc := range []struct {
		acl, sub string
		want     bool
	}{
		{"foo/+/bar", "foo/#", false},
		{"foo/+/ba℞/#", "foo/baz/ba℞", true},
		{"foo/+/ba℞/#", "foo/baz/ba℞/+", true},
		{"foo/+/ba℞/#", "foo/baz/ba℞/#", true},
		{"foo/+/ba℞/#", "foo/baz/+/#", false},
		{"/+//#", "/foo///#", true},
		{"#", "#", true},
		{"#", "+", true},
		{"/#", "+", false},
		{"/#", "/+", true},
		{"/+", "#", false},
		{"/+", "+", false},
		{"+/+", "topic/topic", true},
		{"+/+", "topic/topic/", false},
		{"+", "#", false},
		{"+", "+", true},
		{"a/b/c/d/e", "a/b/c/d/e", true},
		{"a/b/ /d/e", "a/b/c/d/e", false},
		// And some more.
		{"#", "$SYS/#", true},
		{"sensors/#", "sensors", true},
		{"sensors/#", "sensors/#", true},
		{"sensors/#", "#", false},
		{"a/+", "a/b/c", false},
		{"a", "a/#", false},
	} {
		if got := auth.FilterCovers(tc.acl, tc.sub); got != tc.want {
			t.Errorf("FilterCovers(%q, %q) = %v, want %v", tc.acl, tc.sub, got, tc.want)
		}
	}
}

func TestValidUTF8(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"", true},
		{"plain", true},
		{"café ℞ 😀", true},
		{"\x00", false},
		{"a\tb", false},       // C0 control
		{"\x7f", false},       // DEL
		{"\u0085", false},     // C1 control
		{"\ufdd0", false},     // non-character
		{"\uffff", false},     // non-character
		{"\U0001fffe", false}, // non-character in another plane
		{"\xc0\x80", false},   // overlong NUL
		{"\xe0\x80\xaf", false},
		{"\xed\xa0\x80", false}, // surrogate
		{"\xf4\x90\x80\x80", false},
		{"\xf5", false},
		{"\x80", false},
		{"\xe2\x82", false}, // truncated
		{strings.Repeat("a", 65536), true},
		{strings.Repeat("a", 65537), false},
	} {
		if got := validUTF8(tc.s); got != tc.want {
			t.Errorf("validUTF8(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestValidFilter(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"", true},
		{"a/b", true},
		{"+", true},
		{"#", true},
		{"a/+/#", true},
		{"+/+", true},
		{"a+", false},
		{"+a", false},
		{"a/#/b", false},
		{"a#", false},
		{strings.Repeat("a/", 200) + "a", true},
		{strings.Repeat("a/", 201) + "a", false},
		{strings.Repeat("a", 65536), false},
	} {
		if got := validFilter(tc.s); got != tc.want {
			t.Errorf("validFilter(%.20q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestParseJSON(t *testing.T) {
	for _, tc := range []struct {
		in, out string // out "": not JSON
	}{
		{`{"a":1}`, `{"a":1}`},
		{` {"a" : [1 , 2 ] } trailing`, `{"a":[1,2]}`},
		{"\xef\xbb\xbf[]", `[]`},
		{`[true,false,null]`, `[true,false,null]`},
		{`"\u00e9\ud83d\ude00"`, `"é😀"`},
		{`"a\u0000b"`, `"a"`},
		{`"\uZZZZx"`, `""`}, // a malformed hex digit reads as NUL
		{`"\/\b\f\n\r\t"`, `"/\b\f\n\r\t"`},
		{"\"\x01\xff\"", "\"\\u0001\xff\""},
		{`[-0.5, 1e2, 01, 2.]`, `[-0.5,100,1,2]`},
		{`[1e400]`, `[null]`},
		{`-`, ``},
		{`[1,]`, ``},
		{`{"a":1,}`, ``},
		{`{"a" 1}`, ``},
		{`{1:1}`, ``},
		{`"\x"`, ``},
		{`"\udc00"`, ``},
		{`"\ud800\u0041"`, ``},
		{`"abc`, ``},
		{`nul`, ``},
		{`+1`, ``},
		{``, ``},
		{strings.Repeat("[", 1000) + strings.Repeat("]", 1000), strings.Repeat("[", 1000) + strings.Repeat("]", 1000)},
		{strings.Repeat("[", 1001) + strings.Repeat("]", 1001), ``},
	} {
		v, ok := parseJSON([]byte(tc.in))
		switch {
		case tc.out == "" && ok:
			t.Errorf("parseJSON(%.40q) accepted", tc.in)
		case tc.out != "" && !ok:
			t.Errorf("parseJSON(%.40q) refused", tc.in)
		case ok && string(v.marshal(false)) != tc.out:
			t.Errorf("parseJSON(%.40q) = %.60s, want %.60s", tc.in, v.marshal(false), tc.out)
		}
	}
}

func TestJSONLookupAndNumbers(t *testing.T) {
	v, ok := parseJSON([]byte(`{"Name": 1, "name": 2, "big": 1e20, "neg": -1e20, "frac": -2.7}`))
	if !ok {
		t.Fatal("not parsed")
	}
	if n := v.get("NAME").intValue(); n != 1 {
		t.Errorf("the first member, any case: %d", n)
	}
	if v.get("missing") != nil || v.get("big").get("x") != nil {
		t.Error("lookup of a missing member")
	}
	if v.get("big").intValue() != math.MaxInt32 || v.get("neg").intValue() != math.MinInt32 || v.get("frac").intValue() != -2 {
		t.Error("numbers are not read as cJSON's valueint")
	}
}

func TestMarshalIndented(t *testing.T) {
	v := jsonObj().set("a", jsonArr()).set("b", jsonObj()).set("c", jsonArr().add(jsonObj().set("d", jsonInt(1))).add(jsonStr("e")))
	want := "{\n\t\"a\":\t[],\n\t\"b\":\t{\n\t},\n\t\"c\":\t[{\n\t\t\t\"d\":\t1\n\t\t}, \"e\"]\n}"
	if got := string(v.marshal(true)); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
