package format

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// mosquitto_sub builds its %j/%J output with cJSON (1.7.x), so the JSON here
// follows cJSON rather than encoding/json: numbers are doubles printed as
// "%d" when integral and "%1.15g" otherwise, strings are escaped only for
// '"', '\\' and control characters (other bytes, valid UTF-8 or not, pass
// through), duplicate object keys are kept, and --pretty indents with tabs.

type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonFalse
	jsonTrue
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

// jsonValue is a parsed or constructed JSON value; objects keep member order
// and duplicates, as cJSON does.
type jsonValue struct {
	kind  jsonKind
	num   float64
	str   string
	items []jsonValue // array elements or object members
	key   string      // member name when inside an object
}

func jsonNum(n float64) jsonValue { return jsonValue{kind: jsonNumber, num: n} }
func jsonStr(s string) jsonValue  { return jsonValue{kind: jsonString, str: s} }

func (v *jsonValue) add(key string, item jsonValue) {
	item.key = key
	v.items = append(v.items, item)
}

// appendJSON prints v like cJSON_PrintUnformatted (pretty=false) or
// cJSON_Print (pretty=true).
func appendJSON(dst []byte, v *jsonValue, pretty bool, depth int) []byte {
	switch v.kind {
	case jsonNull:
		return append(dst, "null"...)
	case jsonFalse:
		return append(dst, "false"...)
	case jsonTrue:
		return append(dst, "true"...)
	case jsonNumber:
		return appendCJSONNumber(dst, v.num)
	case jsonString:
		return appendCJSONString(dst, v.str)
	case jsonArray:
		dst = append(dst, '[')
		for i := range v.items {
			if i > 0 {
				dst = append(dst, ',')
				if pretty {
					dst = append(dst, ' ')
				}
			}
			dst = appendJSON(dst, &v.items[i], pretty, depth+1)
		}
		return append(dst, ']')
	default:
		dst = append(dst, '{')
		if pretty {
			dst = append(dst, '\n')
		}
		for i := range v.items {
			if pretty {
				dst = appendTabs(dst, depth+1)
			}
			dst = appendCJSONString(dst, v.items[i].key)
			dst = append(dst, ':')
			if pretty {
				dst = append(dst, '\t')
			}
			dst = appendJSON(dst, &v.items[i], pretty, depth+1)
			if i < len(v.items)-1 {
				dst = append(dst, ',')
			}
			if pretty {
				dst = append(dst, '\n')
			}
		}
		if pretty {
			dst = appendTabs(dst, depth)
		}
		return append(dst, '}')
	}
}

func appendTabs(dst []byte, n int) []byte {
	for range n {
		dst = append(dst, '\t')
	}
	return dst
}

// appendCJSONNumber reproduces cJSON's print_number.
func appendCJSONNumber(dst []byte, d float64) []byte {
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return append(dst, "null"...)
	}
	// cJSON stores a saturated int copy next to the double and prints it
	// with %d whenever the two are equal.
	var vi float64
	switch {
	case d >= math.MaxInt32:
		vi = math.MaxInt32
	case d <= math.MinInt32:
		vi = math.MinInt32
	default:
		vi = math.Trunc(d)
	}
	if d == vi {
		return strconv.AppendInt(dst, int64(vi), 10)
	}
	s := strconv.FormatFloat(d, 'g', 15, 64)
	if back, err := strconv.ParseFloat(s, 64); err != nil || !closeEnough(back, d) {
		s = strconv.FormatFloat(d, 'g', 17, 64)
	}
	return append(dst, s...)
}

func closeEnough(a, b float64) bool {
	m := math.Max(math.Abs(a), math.Abs(b))
	return math.Abs(a-b) <= m*2.220446049250313e-16
}

// appendCJSONString reproduces cJSON's print_string_ptr. The input is a C
// string, so callers cut it at the first NUL beforehand.
func appendCJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 32:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// cString returns b up to its first NUL byte: mosquitto hands payloads and
// correlation data to cJSON as NUL-terminated C strings.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// parseCJSON parses a whole payload as cJSON_ParseWithOpts does with
// require_null_terminated set: one value, optional surrounding whitespace
// (any byte <= 32), nothing after it. ok is false when mosquitto would print
// "not valid JSON".
func parseCJSON(b []byte) (v jsonValue, ok bool) {
	p := cjsonParser{b: b}
	p.skip()
	v, ok = p.value(0)
	if !ok {
		return v, false
	}
	p.skip()
	// The payload is a C string: parsing stops at a NUL, and mosquitto then
	// insists that the parser ended exactly at payloadlen.
	return v, p.i == len(b)
}

type cjsonParser struct {
	b []byte
	i int
}

const cjsonNestingLimit = 1000

func (p *cjsonParser) skip() {
	for p.i < len(p.b) && p.b[p.i] != 0 && p.b[p.i] <= 32 {
		p.i++
	}
}

func (p *cjsonParser) hasPrefix(s string) bool {
	return len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s
}

func (p *cjsonParser) value(depth int) (jsonValue, bool) {
	if p.i >= len(p.b) {
		return jsonValue{}, false
	}
	switch c := p.b[p.i]; {
	case p.hasPrefix("null"):
		p.i += 4
		return jsonValue{kind: jsonNull}, true
	case p.hasPrefix("false"):
		p.i += 5
		return jsonValue{kind: jsonFalse}, true
	case p.hasPrefix("true"):
		p.i += 4
		return jsonValue{kind: jsonTrue}, true
	case c == '"':
		s, ok := p.str()
		return jsonStr(s), ok
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == '[':
		return p.array(depth)
	case c == '{':
		return p.object(depth)
	}
	return jsonValue{}, false
}

// number copies the run of characters cJSON considers numeric and converts
// its longest strtod-acceptable prefix, leaving the rest unconsumed.
func (p *cjsonParser) number() (jsonValue, bool) {
	end := p.i
	for end < len(p.b) && isCJSONNumChar(p.b[end]) {
		end++
	}
	n := strtodPrefix(p.b[p.i:end])
	if n == 0 {
		return jsonValue{}, false
	}
	f, err := strconv.ParseFloat(string(p.b[p.i:p.i+n]), 64)
	if err != nil {
		// Out of range values become ±Inf, as strtod returns HUGE_VAL.
		if ne, isNum := err.(*strconv.NumError); !isNum || ne.Err != strconv.ErrRange {
			return jsonValue{}, false
		}
	}
	p.i += n
	return jsonNum(f), true
}

func isCJSONNumChar(c byte) bool {
	return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == 'e' || c == 'E' || c == '.'
}

// strtodPrefix returns the length of the longest prefix of b that C's strtod
// accepts as a decimal number (0 if none).
func strtodPrefix(b []byte) int {
	i := 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
	}
	digits := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
		digits++
	}
	if i < len(b) && b[i] == '.' {
		j := i + 1
		frac := 0
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
			frac++
		}
		if digits+frac > 0 {
			i = j
			digits += frac
		}
	}
	if digits == 0 {
		return 0
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		j := i + 1
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		k := j
		for k < len(b) && b[k] >= '0' && b[k] <= '9' {
			k++
		}
		if k > j {
			i = k
		}
	}
	return i
}

func (p *cjsonParser) str() (string, bool) {
	p.i++ // opening quote
	var out []byte
	for p.i < len(p.b) && p.b[p.i] != 0 {
		c := p.b[p.i]
		switch c {
		case '"':
			p.i++
			return string(out), true
		case '\\':
			if p.i+1 >= len(p.b) {
				return "", false
			}
			e := p.b[p.i+1]
			p.i += 2
			switch e {
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case '"', '\\', '/':
				out = append(out, e)
			case 'u':
				r, ok := p.utf16()
				if !ok {
					return "", false
				}
				out = utf8.AppendRune(out, r)
			default:
				return "", false
			}
		default:
			out = append(out, c)
			p.i++
		}
	}
	return "", false
}

// utf16 decodes the XXXX (and a following \uXXXX low surrogate) of a \u
// escape whose "\u" has already been consumed.
func (p *cjsonParser) utf16() (rune, bool) {
	hi, ok := p.hex4()
	if !ok || (hi >= 0xDC00 && hi <= 0xDFFF) {
		return 0, false
	}
	if hi < 0xD800 || hi > 0xDBFF {
		return rune(hi), true
	}
	if !p.hasPrefix(`\u`) {
		return 0, false
	}
	p.i += 2
	lo, ok := p.hex4()
	if !ok || lo < 0xDC00 || lo > 0xDFFF {
		return 0, false
	}
	return 0x10000 + ((rune(hi)&0x3FF)<<10 | (rune(lo) & 0x3FF)), true
}

func (p *cjsonParser) hex4() (uint16, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 16)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return uint16(v), true
}

func (p *cjsonParser) array(depth int) (jsonValue, bool) {
	if depth >= cjsonNestingLimit {
		return jsonValue{}, false
	}
	v := jsonValue{kind: jsonArray}
	p.i++
	p.skip()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return v, true
	}
	for {
		p.skip()
		item, ok := p.value(depth + 1)
		if !ok {
			return v, false
		}
		v.items = append(v.items, item)
		p.skip()
		if p.i >= len(p.b) {
			return v, false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return v, true
		default:
			return v, false
		}
	}
}

func (p *cjsonParser) object(depth int) (jsonValue, bool) {
	if depth >= cjsonNestingLimit {
		return jsonValue{}, false
	}
	v := jsonValue{kind: jsonObject}
	p.i++
	p.skip()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return v, true
	}
	for {
		p.skip()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return v, false
		}
		key, ok := p.str()
		if !ok {
			return v, false
		}
		p.skip()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return v, false
		}
		p.i++
		p.skip()
		item, ok := p.value(depth + 1)
		if !ok {
			return v, false
		}
		v.add(key, item)
		p.skip()
		if p.i >= len(p.b) {
			return v, false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return v, true
		default:
			return v, false
		}
	}
}
