package events

// decodeFast reads the common shape of a message body without reflection:
// one object of known, distinct fields whose strings hold no escapes and
// whose numbers are small non-negative integers. Anything else (escapes,
// null, floats, unknown or repeated fields, malformed JSON) returns false,
// and the caller takes the general path, which also words the error. So
// decodeFast never accepts what decodeObject would refuse, and returns the
// same message when it accepts (FuzzDecodeFast checks both).
//
// data must be valid UTF-8 (Decode checks that first).
func decodeFast(data []byte) (Message, bool) {
	var m Message
	var seen [len(fieldNames)]bool
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return Message{}, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return m, skipSpace(data, i+1) == len(data)
	}
	for {
		from, next, ok := fastSpan(data, i)
		if !ok {
			return Message{}, false
		}
		f := fieldIndex(data[from : next-1])
		if f < 0 || seen[f] {
			return Message{}, false
		}
		seen[f] = true
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return Message{}, false
		}
		i = skipSpace(data, i+1)
		switch fieldNames[f] {
		case "v":
			var n uint64
			if n, i, ok = fastUint(data, i); !ok {
				return Message{}, false
			}
			m.Version = int(n)
		case "ttl":
			var n uint64
			if n, i, ok = fastUint(data, i); !ok {
				return Message{}, false
			}
			m.TTL = uint32(n)
		case "name":
			if m.Name, i, ok = fastString(data, i); !ok {
				return Message{}, false
			}
		case "type":
			if m.Type, i, ok = fastString(data, i); !ok {
				return Message{}, false
			}
		case "origin":
			if m.Origin, i, ok = fastString(data, i); !ok {
				return Message{}, false
			}
		case "records":
			if m.Records, i, ok = fastStrings(data, i); !ok {
				return Message{}, false
			}
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return Message{}, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return m, skipSpace(data, i+1) == len(data)
		default:
			return Message{}, false
		}
	}
}

func fieldIndex(key []byte) int {
	for i, f := range fieldNames {
		if string(key) == f { // no allocation
			return i
		}
	}
	return -1
}

// fastString reads a JSON string without escapes or control characters
// at i and returns it and the index after it.
func fastString(data []byte, i int) (string, int, bool) {
	from, next, ok := fastSpan(data, i)
	if !ok {
		return "", 0, false
	}
	return string(data[from : next-1]), next, true
}

// fastSpan finds a JSON string without escapes or control characters at i:
// its contents start at from, and next is the index after its closing quote.
func fastSpan(data []byte, i int) (from, next int, ok bool) {
	if i >= len(data) || data[i] != '"' {
		return 0, 0, false
	}
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return i + 1, j + 1, true
		case c == '\\' || c < 0x20:
			return 0, 0, false
		}
	}
	return 0, 0, false
}

// fastUint reads 0 or a positive integer of at most 9 digits at i (it fits
// uint32 and int); anything else is left to the general path.
func fastUint(data []byte, i int) (uint64, int, bool) {
	j := i
	var n uint64
	for j < len(data) && data[j] >= '0' && data[j] <= '9' {
		n = n*10 + uint64(data[j]-'0')
		j++
	}
	digits := j - i
	if digits == 0 || digits > 9 || (digits > 1 && data[i] == '0') {
		return 0, 0, false
	}
	if j < len(data) && (data[j] == '.' || data[j] == 'e' || data[j] == 'E') {
		return 0, 0, false
	}
	return n, j, true
}

// fastStrings reads an array of fastString strings at i.
func fastStrings(data []byte, i int) ([]string, int, bool) {
	if i >= len(data) || data[i] != '[' {
		return nil, 0, false
	}
	out := []string{}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return out, i + 1, true
	}
	for {
		s, next, ok := fastString(data, i)
		if !ok {
			return nil, 0, false
		}
		out = append(out, s)
		i = skipSpace(data, next)
		if i >= len(data) {
			return nil, 0, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case ']':
			return out, i + 1, true
		default:
			return nil, 0, false
		}
	}
}
