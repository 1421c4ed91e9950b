package access

import (
	"strings"
	"testing"
	"unicode/utf8"
)

type maskCase struct {
	in, want string
}

func runMaskCases(t *testing.T, rule MaskRule, cases []maskCase, opts ...MaskOption) {
	t.Helper()
	for _, c := range cases {
		if got := Mask(rule, c.in, opts...); got != c.want {
			t.Errorf("Mask(%s, %q) = %q, want %q", rule, c.in, got, c.want)
		}
	}
}

func TestMaskEmptyStaysEmpty(t *testing.T) {
	for _, r := range append(MaskRules, "unknown") {
		if got := Mask(r, ""); got != "" {
			t.Errorf("Mask(%s, \"\") = %q", r, got)
		}
	}
}

func TestMaskFullAndUnknown(t *testing.T) {
	runMaskCases(t, MaskFull, []maskCase{{"13812345678", "****"}, {"a", "****"}, {"张三", "****"}, {"****", "*****"}, {" ", "****"}})
	runMaskCases(t, "no-such-rule", []maskCase{{"13812345678", "****"}})
	if ValidMaskRule("no-such-rule") || !ValidMaskRule(MaskEmail) {
		t.Error("ValidMaskRule")
	}
}

func TestMaskPhone(t *testing.T) {
	cases := []maskCase{
		{"13812345678", "138****5678"},
		{" 13812345678 ", "138****5678"},
		{"138 1234 5678", "138****5678"},
		{"138-1234-5678", "138****5678"},
		{"+86 138 1234 5678", "+86 138****5678"},
		{"+8613812345678", "+86 138****5678"},
		{"(+86) 13812345678", "+86 138****5678"},
		{"0086 13812345678", "0086 138****5678"},
		{"8613812345678", "86 138****5678"},
		{"010-62345678", "010-****5678"},
		{"(010) 6234 5678", "010-****5678"},
		{"021 6234567", "021-***4567"},
		{"0755-26345678", "0755-****5678"},
		{"075526345678", "0755-****5678"},
		{"0755-12345678", "****"},
		{"+86 10 6234 5678", "+86 10-****5678"},
		{"+86 010 6234 5678", "+86 010-****5678"},
		{"62345678", "****5678"},
		{"6234567", "***4567"},
		// Wrong shapes are masked whole.
		{"138", "****"},
		{"1381234567", "****"},
		{"138123456789", "****"},
		{"23812345678", "****"},
		{"+1 415 555 0100", "****"},
		{"010-62345678-123", "****"},
		{"010-0234567", "****"},
		{"010-623456", "****"},
		{"1234567", "****"},
		{"138+12345678", "****"},
		{"++8613812345678", "****"},
		{"tel 13812345678", "****"},
		{"１３８１２３４５６７８", "****"},
		{"138****5678", "****"},
		{"+86", "****"},
		{"0086", "****"},
		{"-", "****"},
	}
	runMaskCases(t, MaskMobile, cases)
	runMaskCases(t, MaskLandline, cases)
}

func TestMaskEmail(t *testing.T) {
	runMaskCases(t, MaskEmail, []maskCase{
		{"alice@example.com", "a***@example.com"},
		{"  Alice.Smith+crm@mail.example.com ", "A***@mail.example.com"},
		{"ab@example.com", "a***@example.com"},
		{"a@example.com", "***@example.com"},
		{"张三@例子.中国", "张***@例子.中国"},
		{`"a@b"@example.com`, `"***@example.com`},
		{"alice@localhost", "****"},
		{"alice@", "****"},
		{"@example.com", "****"},
		{"alice", "****"},
		{"alice@exa mple.com", "****"},
		{"alice@example..com", "****"},
		{"alice@example.com.", "****"},
		{"a***@example.com", "*****************"}, // already masked: mask runes only
		{"*@example.com", "***@example.com"},
	})
}

func TestMaskIDNumber(t *testing.T) {
	runMaskCases(t, MaskIDNumber, []maskCase{
		{"110101199003071234", "110***********1234"},
		{"11010119900307123X", "110***********123X"},
		{"11010119900307123x", "110***********123x"},
		{"110101 19900307 1234", "110***********1234"},
		{"110101900307123", "110********7123"},
		{"1101011990030712", "****"},
		{"11010119900307123Y", "****"},
		{"X10101199003071234", "****"},
		{"110", "****"},
		{"１１０１０１１９９００３０７１２３４", "****"},
	})
}

func TestMaskBankCard(t *testing.T) {
	runMaskCases(t, MaskBankCard, []maskCase{
		{"6222020200012345678", "**** **** **** 5678"},
		{"6222 0202 0001 2345 678", "**** **** **** 5678"},
		{"6222-0202-0001-2345", "**** **** **** 2345"},
		{"622202020001", "**** **** **** 0001"},
		{"62220202000", "****"},
		{"1234", "****"},
		{"6222020200012345678a", "****"},
		{strings.Repeat("1", 31), "****"},
	})
}

func TestMaskName(t *testing.T) {
	runMaskCases(t, MaskName, []maskCase{
		{"张三", "张*"},
		{"张三丰", "张**"},
		{"欧阳娜娜", "欧阳**"},
		{"欧阳娜", "欧阳*"},
		{"欧阳", "欧*"},
		{"司马相如", "司马**"},
		{"诸葛亮", "诸葛*"},
		{"阿依古丽·买买提", "阿*******"},
		{"张", "****"},
		{"Alice Smith", "A**** S****"},
		{"  Alice   Smith ", "A**** S****"},
		{"Alice", "A****"},
		{"J Smith", "* S****"},
		{"Jean-Luc Picard", "J******* P*****"},
		{"张 三", "* *"},
		{"A", "****"},
		{"Владимир", "В*******"},
	})
}

func TestMaskAddress(t *testing.T) {
	runMaskCases(t, MaskAddress, []maskCase{
		{"上海市浦东新区张江路88号", "上海市****"},
		{"北京市海淀区中关村大街1号", "北京市****"},
		{"北京海淀区中关村大街1号", "北京****"},
		{"重庆市渝中区解放碑", "重庆市****"},
		{"中国上海市浦东新区", "中国上海市****"},
		{"广东省深圳市南山区科技园", "广东省深圳市****"},
		{"江苏省苏州市昆山市玉山镇", "江苏省苏州市****"},
		{"广西壮族自治区南宁市青秀区", "广西壮族自治区南宁市****"},
		{"吉林省延边朝鲜族自治州延吉市", "吉林省延边朝鲜族自治州****"},
		{"广东省 深圳市南山区", "广东省****"},
		{"深圳市南山区科技园", "深圳市****"},
		{"香港特别行政区中环皇后大道中1号", "香港特别行政区****"},
		{"上海市", "上海市****"},
		{"南京路1号超市", "****"},
		{"张江路88号", "****"},
		{"市府路100号", "****"},
		{"1600 Amphitheatre Parkway, Mountain View, CA 94043, USA", "****, CA, USA"},
		{"221B Baker Street, London, UK", "****, UK"},
		{"10 Downing Street, London, SW1A 2AA, UK", "****, UK"},
		{"Flat 5, 10 Downing Street, Westminster, London, SW1A 2AA, UK", "****, London, UK"},
		{"Apt 4, Baker Street, London", "****, London"},
		{"Baker Street London", "****"},
		{"Main St 1, 12345", "****"},
		{", , ,", "****"},
	})
}

func TestMaskCustom(t *testing.T) {
	runMaskCases(t, MaskCustom, []maskCase{
		{"13812345678", "138****5678"},
		{"ABCDEFGHIJKLM", "ABC******JKLM"},
		{"ABCDEFGHIJ", "****"},
		{"张三丰李四", "****"}, // 5 runes: only 0 hidden would remain
		{"1234567", "****"},
		{"abc", "****"},
	}, WithKeep(3, 4))
	runMaskCases(t, MaskCustom, []maskCase{
		{"张三丰", "张##"},
		{"张三", "张#"},
		{"张", "####"},
	}, WithKeep(1, 0), WithMaskRune('#'))
	runMaskCases(t, MaskCustom, []maskCase{
		{"secret", "******"},
		{"秘密", "**"},
		{"**", "***"},
	})
	runMaskCases(t, MaskCustom, []maskCase{{"abcdef", "******"}}, WithKeep(-3, -1))
	runMaskCases(t, MaskCustom, []maskCase{{"abcdef", "****"}}, WithKeep(1<<62, 1<<62))
	runMaskCases(t, MaskCustom, []maskCase{{"abcdef", "a****f"}}, WithKeep(1, 1), WithMaskRune('x'), nil)
	runMaskCases(t, MaskMobile, []maskCase{{"13812345678", "138●●●●5678"}}, WithMaskRune('●'))
	for _, bad := range []rune{'a', '5', ' ', '\n', utf8.RuneError, -1, 0x110000, 0xD800, '\u0301'} {
		runMaskCases(t, MaskMobile, []maskCase{{"13812345678", "138****5678"}}, WithMaskRune(bad))
	}
}

func TestMaskInvalidUTF8(t *testing.T) {
	for _, r := range MaskRules {
		for _, in := range []string{"\xff", "138\xff12345678", "张\xff三", "alice@ex\xffample.com"} {
			if got := Mask(r, in); got != "****" {
				t.Errorf("Mask(%s, %q) = %q", r, in, got)
			}
		}
	}
}

// maskStructure are characters a rule may emit besides kept characters and
// mask runes.
const maskStructure = " -,@."

// maxVisible is how many characters other than mask runes and structure
// each rule may reveal (-1: bounded by a per-rule check in checkMask).
var maxVisible = map[MaskRule]int{
	MaskFull:     0,
	MaskMobile:   12,
	MaskLandline: 12,
	MaskEmail:    -1,
	MaskIDNumber: 7,
	MaskBankCard: 4,
	MaskName:     -1,
	MaskAddress:  -1,
	MaskCustom:   3 + 4,
}

func checkMask(t *testing.T, rule MaskRule, in, out string, mask rune) {
	t.Helper()
	if in == "" {
		if out != "" {
			t.Fatalf("Mask(%s, \"\") = %q", rule, out)
		}
		return
	}
	if out == in {
		t.Fatalf("Mask(%s, %q) returned its input", rule, in)
	}
	if !utf8.ValidString(out) || !strings.ContainsRune(out, mask) {
		t.Fatalf("Mask(%s, %q) = %q: invalid or nothing masked", rule, in, out)
	}
	visible := 0
	for _, r := range out {
		if r == mask || strings.ContainsRune(maskStructure, r) {
			continue
		}
		visible++
		if !strings.ContainsRune(in, r) {
			t.Fatalf("Mask(%s, %q) = %q invents %q", rule, in, out, r)
		}
	}
	if lim := maxVisible[rule]; lim >= 0 && visible > lim {
		t.Fatalf("Mask(%s, %q) = %q shows %d characters, at most %d allowed", rule, in, out, visible, lim)
	}
	switch rule {
	case MaskEmail:
		if at := strings.LastIndexByte(out, '@'); at >= 0 {
			if n := utf8.RuneCountInString(strings.ReplaceAll(out[:at], string(mask), "")); n > 1 {
				t.Fatalf("Mask(email, %q) = %q shows %d local characters", in, out, n)
			}
		}
	case MaskName:
		for _, w := range strings.Split(out, " ") {
			if n := utf8.RuneCountInString(strings.ReplaceAll(w, string(mask), "")); n > 2 || !strings.ContainsRune(w, mask) {
				t.Fatalf("Mask(name, %q) = %q word %q", in, out, w)
			}
		}
	case MaskAddress:
		if strings.ContainsFunc(out, func(r rune) bool { return r >= '0' && r <= '9' }) {
			t.Fatalf("Mask(address, %q) = %q shows digits", in, out)
		}
		if i := strings.Index(out, string(mask)); utf8.RuneCountInString(out[:i]) > 2+7+12+10 {
			t.Fatalf("Mask(address, %q) = %q keeps too long a prefix", in, out)
		}
	}
}

var maskSeeds = []string{
	"", " ", "a", "ab", "abc", "138", "13812345678", "+86 138 1234 5678", "0086 13812345678",
	"010-62345678", "+86 10 6234 5678", "62345678", "alice@example.com", "a@b.c", "@", "a@",
	"110101199003071234", "11010119900307123X", "110101900307123", "6222020200012345678",
	"张", "张三", "欧阳娜娜", "欧阳", "Alice Smith", "J Smith", "上海市浦东新区张江路88号",
	"广东省深圳市南山区", "1600 Amphitheatre Parkway, Mountain View, CA 94043, USA", ",,,",
	"****", "138****5678", "a***@example.com", "\xff", "\xe5\xbc", "张\xff", "\x00", "\u200b",
	strings.Repeat("长", 100), "中国", "省市", "市", "  \t", "+", "(+86)",
}

func TestMaskSeedsAllRules(t *testing.T) {
	for _, rule := range append(MaskRules, "bogus") {
		for _, s := range maskSeeds {
			checkMask(t, rule, s, Mask(rule, s, WithKeep(3, 4)), '*')
			checkMask(t, rule, s, Mask(rule, s, WithKeep(3, 4), WithMaskRune('•')), '•')
		}
	}
}

func FuzzMask(f *testing.F) {
	for i, s := range maskSeeds {
		f.Add(s, uint8(i))
	}
	rules := append(MaskRules, "bogus")
	f.Fuzz(func(t *testing.T, s string, sel uint8) {
		rule := rules[int(sel)%len(rules)]
		mask := '*'
		if sel >= 128 {
			mask = '#'
		}
		checkMask(t, rule, s, Mask(rule, s, WithKeep(3, 4), WithMaskRune(mask)), mask)
	})
}
