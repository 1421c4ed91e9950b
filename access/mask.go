package access

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaskRule names how a sensitive value is shown to someone who may see it
// only masked. Rules are stored in field metadata by these names.
//
// Every rule is rune-aware, total (any string, including invalid UTF-8,
// yields a result without panicking) and fails closed: a value that does not
// have the shape the rule expects (a 3-digit "mobile", an e-mail address
// without a domain, invalid UTF-8, …) is masked whole as MaskFull — four
// mask runes, revealing neither content nor length. A non-empty value is
// never returned unchanged (an already masked input such as "138****5678"
// comes back as mask runes only); the empty string stays empty. Surrounding
// white space is trimmed before a rule looks at the value.
type MaskRule string

const (
	// MaskFull hides everything: "****".
	MaskFull MaskRule = "full"
	// MaskMobile shows a Chinese mobile number's first 3 and last 4 digits:
	// 13812345678 → 138****5678; "+86 138 1234 5678" → "+86 138****5678"
	// (also "0086", and "86" before a 13-digit run). It accepts digits,
	// spaces, hyphens, parentheses and one leading "+". A landline in a
	// mobile field is masked as MaskLandline would, which shows no more.
	MaskMobile MaskRule = "mobile"
	// MaskLandline shows a Chinese landline's area code and the last 4
	// digits of the local number (7 or 8 digits, not starting with 0 or 1):
	// 010-62345678 → 010-****5678, 0755 12345678 → 0755-****5678,
	// "+86 10 6234 5678" → "+86 10-****5678", 62345678 → ****5678. Area
	// codes starting 01 or 02 have 3 digits, the others 4. Foreign numbers
	// and extensions do not fit and are masked whole. A mobile number in a
	// landline field is masked as MaskMobile.
	MaskLandline MaskRule = "landline"
	// MaskEmail shows the first character of the local part and the
	// domain: alice@example.com → a***@example.com (always three mask runes,
	// so the length stays hidden; a one-character local part is masked
	// whole: ***@example.com). The domain must look like a host name
	// (letters, digits, hyphens, at least two dot-separated labels).
	MaskEmail MaskRule = "email"
	// MaskIDNumber shows the first 3 and last 4 characters of a Chinese
	// resident ID number (18 characters with a final digit or X, or the old
	// 15-digit form): 110101199003071234 → 110***********1234.
	MaskIDNumber MaskRule = "id_number"
	// MaskBankCard shows the last 4 digits of a card or account number of
	// 12 to 30 digits (spaces and hyphens allowed), in a fixed form that
	// hides the length: **** **** **** 5678.
	MaskBankCard MaskRule = "bank_card"
	// MaskName shows a person's surname initial. An all-Chinese name (Han
	// characters and the middle dot "·") keeps its surname: 张三 → 张*,
	// 张三丰 → 张**, 欧阳娜娜 → 欧阳** (two-character compound surnames in
	// CompoundSurnames, only when at least one character follows them).
	// Other names keep the first letter of each word, word lengths kept:
	// "Alice Smith" → "A**** S****" (chosen over "Alice S.", which would show
	// the whole given name). Words of one character are masked whole; a
	// one-character name is masked as MaskFull.
	MaskName MaskRule = "name"
	// MaskAddress keeps an address down to its city.
	//
	// Chinese (the value holds a Han character): an optional leading 中国,
	// then a municipality (北京/上海/天津/重庆, with or without 市) or a
	// special administrative region (香港/澳门, optionally 特别行政区); or
	// else a province (…省, …自治区) optionally followed within 10
	// characters by its city (…市, else …自治州/…地区/…盟); or else a city
	// (…市, …自治州, …地区, …盟) within the first 10 characters. The rest
	// becomes "****": "上海市浦东新区张江路88号" → "上海市****",
	// "广东省深圳市南山区…" → "广东省深圳市****". A kept part holding a digit
	// or a street-level word (路 街 道 巷 弄 号 村 楼 栋 室 …) is dropped back
	// to the province, or to MaskFull.
	//
	// Other scripts: the comma-separated parts are read from the end, the
	// last ⌊n/2⌋ (at most 3) are kept, and any word containing a digit
	// (postal codes, house numbers) is removed from them; the rest becomes
	// "****": "1600 Amphitheatre Parkway, Mountain View, CA 94043, USA" →
	// "****, CA, USA"; "10 Downing Street, London, SW1A 2AA, UK" →
	// "****, UK". An address without commas is masked whole. The
	// heuristic errs towards showing less.
	MaskAddress MaskRule = "address"
	// MaskCustom keeps the first KeepFirst and last KeepLast characters
	// (WithKeep) and masks the ones between, one mask rune each. If fewer
	// than a third of the characters (or none) would stay masked, the
	// value is masked as MaskFull instead. Without WithKeep everything is
	// masked, length kept.
	MaskCustom MaskRule = "custom"
)

// MaskRules lists the known rules.
var MaskRules = []MaskRule{MaskFull, MaskMobile, MaskLandline, MaskEmail, MaskIDNumber, MaskBankCard, MaskName, MaskAddress, MaskCustom}

// ValidMaskRule reports whether r is a known rule.
func ValidMaskRule(r MaskRule) bool { return slices.Contains(MaskRules, r) }

// CompoundSurnames are the two-character Chinese surnames MaskName keeps
// whole.
var CompoundSurnames = []string{
	"欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐",
	"长孙", "宇文", "司徒", "夏侯", "轩辕", "端木", "独孤", "南宫", "西门", "万俟",
	"闻人", "澹台", "公冶", "宗政", "濮阳", "太叔", "申屠", "钟离", "呼延", "百里",
	"东郭", "拓跋", "赫连", "淳于", "单于", "司空", "仲孙", "鲜于", "闾丘", "亓官",
	"司寇", "子车", "颛孙", "壤驷", "公良", "漆雕", "乐正", "宰父", "谷梁", "段干",
	"左丘", "东门", "梁丘", "第五", "公西", "微生", "羊舌", "巫马", "南门", "呼衍",
}

// DefaultMaskRune is the rune masked characters are replaced with.
const DefaultMaskRune = '*'

// MaskOption adjusts a Mask call.
type MaskOption func(*maskConfig)

type maskConfig struct {
	keepFirst, keepLast int
	mask                rune
}

// WithKeep sets how many leading and trailing characters MaskCustom keeps;
// negative numbers count as 0. Other rules ignore it.
func WithKeep(first, last int) MaskOption {
	return func(c *maskConfig) { c.keepFirst, c.keepLast = max(first, 0), max(last, 0) }
}

// WithMaskRune sets the mask rune. A rune that could be mistaken for data
// (a letter, digit, space, control or invalid rune) is replaced by
// DefaultMaskRune.
func WithMaskRune(r rune) MaskOption {
	return func(c *maskConfig) { c.mask = r }
}

// Mask masks value by rule; see MaskRule. Unknown rules mask everything.
func Mask(rule MaskRule, value string, opts ...MaskOption) string {
	if value == "" {
		return ""
	}
	c := maskConfig{mask: DefaultMaskRune}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if !usableMaskRune(c.mask) {
		c.mask = DefaultMaskRune
	}
	m := masker{mask: c.mask}
	s := strings.TrimSpace(value)
	out := ""
	ok := false
	if utf8.ValidString(s) && s != "" {
		switch rule {
		case MaskMobile, MaskLandline:
			out, ok = m.phone(s)
		case MaskEmail:
			out, ok = m.email(s)
		case MaskIDNumber:
			out, ok = m.idNumber(s)
		case MaskBankCard:
			out, ok = m.bankCard(s)
		case MaskName:
			out, ok = m.name(s)
		case MaskAddress:
			out, ok = m.address(s)
		case MaskCustom:
			out, ok = m.keepEnds(s, c.keepFirst, c.keepLast)
		}
	}
	if !ok {
		out = m.n(4)
	}
	if out == value {
		// Already masked input: answer with mask runes only.
		out = m.n(utf8.RuneCountInString(value) + 1)
	}
	return out
}

func usableMaskRune(r rune) bool {
	return utf8.ValidRune(r) && r != utf8.RuneError && unicode.IsPrint(r) &&
		!unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsNumber(r) && !unicode.IsSpace(r) && !unicode.IsMark(r)
}

type masker struct{ mask rune }

// n returns k mask runes.
func (m masker) n(k int) string { return strings.Repeat(string(m.mask), max(k, 0)) }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// phone masks a Chinese mobile or landline number.
func (m masker) phone(s string) (string, bool) {
	var d []byte
	plus := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			d = append(d, c)
		case c == '+':
			if plus || len(d) > 0 || strings.Trim(s[:i], "( ") != "" {
				return "", false
			}
			plus = true
		case c == ' ' || c == '-' || c == '(' || c == ')':
		default:
			return "", false
		}
	}
	num := string(d)
	prefix := ""
	switch {
	case plus:
		rest, ok := strings.CutPrefix(num, "86")
		if !ok {
			return "", false // foreign number
		}
		num, prefix = rest, "+86 "
	case strings.HasPrefix(num, "0086"):
		num, prefix = num[4:], "0086 "
	case len(num) == 13 && strings.HasPrefix(num, "861"):
		num, prefix = num[2:], "86 "
	}
	if len(num) == 11 && num[0] == '1' {
		return prefix + num[:3] + m.n(4) + num[7:], true
	}
	if num == "" {
		return "", false
	}
	national, shown := num, 0 // shown: digits of the area code as typed
	if prefix != "" && num[0] != '0' {
		national = "0" + num
		shown = -1
	}
	area, local := "", national
	if national[0] == '0' {
		al := 4
		if len(national) > 1 && (national[1] == '1' || national[1] == '2') {
			al = 3
		}
		if len(national) <= al {
			return "", false
		}
		area, local = national[:al], national[al:]
		if shown < 0 {
			area = area[1:]
		}
	} else if prefix != "" {
		return "", false
	}
	if len(local) < 7 || len(local) > 8 || local[0] == '0' || local[0] == '1' {
		return "", false
	}
	out := prefix
	if area != "" {
		out += area + "-"
	}
	return out + m.n(len(local)-4) + local[len(local)-4:], true
}

func (m masker) email(s string) (string, bool) {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", false
	}
	local, domain := s[:at], s[at+1:]
	if !validDomain(domain) {
		return "", false
	}
	first, size := utf8.DecodeRuneInString(local)
	if size == len(local) || !unicode.IsPrint(first) || unicode.IsSpace(first) || first == m.mask {
		return m.n(3) + "@" + domain, true
	}
	return string(first) + m.n(3) + "@" + domain, true
}

func validDomain(d string) bool {
	if len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return false
		}
		for _, r := range l {
			if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-') {
				return false
			}
		}
	}
	return true
}

func (m masker) idNumber(s string) (string, bool) {
	s = strings.ReplaceAll(s, " ", "")
	switch {
	case len(s) == 18 && allDigits(s[:17]) && (isDigit(s[17]) || s[17] == 'X' || s[17] == 'x'):
	case len(s) == 15 && allDigits(s):
	default:
		return "", false
	}
	return s[:3] + m.n(len(s)-7) + s[len(s)-4:], true
}

func (m masker) bankCard(s string) (string, bool) {
	d := strings.NewReplacer(" ", "", "-", "").Replace(s)
	if len(d) < 12 || len(d) > 30 || !allDigits(d) {
		return "", false
	}
	g := m.n(4)
	return g + " " + g + " " + g + " " + d[len(d)-4:], true
}

func isChineseNameRune(r rune) bool { return unicode.Is(unicode.Han, r) || r == '·' }

func (m masker) name(s string) (string, bool) {
	words := strings.Fields(s)
	if len(words) == 1 {
		r := []rune(words[0])
		if len(r) < 2 {
			return "", false
		}
		if !slices.ContainsFunc(r, func(r rune) bool { return !isChineseNameRune(r) }) {
			keep := 1
			if len(r) >= 3 && slices.Contains(CompoundSurnames, string(r[:2])) {
				keep = 2
			}
			return string(r[:keep]) + m.n(len(r)-keep), true
		}
	}
	out := make([]string, len(words))
	for i, w := range words {
		r := []rune(w)
		if len(r) == 1 || !unicode.IsPrint(r[0]) || r[0] == m.mask {
			out[i] = m.n(len(r))
			continue
		}
		out[i] = string(r[0]) + m.n(len(r)-1)
	}
	return strings.Join(out, " "), true
}

func (m masker) address(s string) (string, bool) {
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
		return m.chineseAddress(s)
	}
	return m.latinAddress(s)
}

var (
	addrRegions = []string{
		"北京市", "上海市", "天津市", "重庆市", "北京", "上海", "天津", "重庆",
		"香港特别行政区", "澳门特别行政区", "香港", "澳门", "澳門",
	}
	addrProvince = []string{"特别行政区", "自治区", "省"}
	addrCity     = []string{"市"}
	addrCityAlt  = []string{"自治州", "地区", "盟"}
	// Street-level words that must never be part of the kept prefix.
	addrStreet = "路街道巷弄号號村组組楼樓栋棟室单單元座层層院园園里胡同"
)

// findEnd returns the rune index just past the first of markers ending
// within the first window runes of r, or -1.
func findEnd(r []rune, window int, markers []string) int {
	best := -1
	s := string(r[:min(window, len(r))])
	for _, mk := range markers {
		if i := strings.Index(s, mk); i >= 0 {
			end := utf8.RuneCountInString(s[:i]) + utf8.RuneCountInString(mk)
			if best < 0 || end < best {
				best = end
			}
		}
	}
	return best
}

func cityEnd(r []rune, window int) int {
	if e := findEnd(r, window, addrCity); e >= 0 {
		return e
	}
	return findEnd(r, window, addrCityAlt)
}

func safeAddrPrefix(r []rune) bool {
	for _, c := range r {
		if unicode.IsDigit(c) || unicode.IsNumber(c) || strings.ContainsRune(addrStreet, c) || !unicode.Is(unicode.Han, c) {
			return false
		}
	}
	return true
}

func (m masker) chineseAddress(s string) (string, bool) {
	r := []rune(s)
	start := 0
	if strings.HasPrefix(s, "中国") {
		start = 2
	}
	rest := r[start:]
	keep := -1 // runes of rest to keep
	for _, reg := range addrRegions {
		if strings.HasPrefix(string(rest), reg) {
			keep = utf8.RuneCountInString(reg)
			break
		}
	}
	fallback := 0
	if keep < 0 {
		if p := findEnd(rest, 12, addrProvince); p >= 0 {
			fallback, keep = p, p
			if c := cityEnd(rest[p:], 10); c >= 0 {
				keep = p + c
			}
		} else {
			keep = cityEnd(rest, 10)
		}
	}
	if keep > 0 && !safeAddrPrefix(rest[:keep]) {
		keep = fallback
	}
	if keep < 2 || !safeAddrPrefix(rest[:keep]) {
		return "", false
	}
	return string(r[:start+keep]) + m.n(4), true
}

func (m masker) latinAddress(s string) (string, bool) {
	var parts []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	k := min(3, len(parts)/2)
	var kept []string
	for _, p := range parts[len(parts)-k:] {
		var words []string
		for _, w := range strings.Fields(p) {
			if !strings.ContainsFunc(w, func(r rune) bool { return unicode.IsDigit(r) || unicode.IsNumber(r) || r == m.mask }) {
				words = append(words, w)
			}
		}
		if len(words) > 0 {
			kept = append(kept, strings.Join(words, " "))
		}
	}
	if len(kept) == 0 {
		return "", false
	}
	return m.n(4) + ", " + strings.Join(kept, ", "), true
}

func (m masker) keepEnds(s string, first, last int) (string, bool) {
	r := []rune(s)
	n := len(r)
	if first == 0 && last == 0 {
		return m.n(n), true
	}
	if first > n || last > n {
		return "", false
	}
	hidden := n - first - last
	if hidden < 1 || hidden*3 < n {
		return "", false
	}
	return string(r[:first]) + m.n(hidden) + string(r[n-last:]), true
}
