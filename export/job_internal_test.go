package export

import "testing"

func TestCSVCell(t *testing.T) {
	for in, want := range map[any]string{
		nil: "", true: "true", 12.5: "12.5", 1250000.0: "1250000", "张三": "张三",
		"=SUM(A1:A9)": "'=SUM(A1:A9)", "@cmd": "'@cmd", "+cmd|' /C calc'!A0": "'+cmd|' /C calc'!A0",
		"-2+3*cmd|x": "'-2+3*cmd|x", "\t=1": "'\t=1", "+86 138 0013 8000": "+86 138 0013 8000", "-12.5": "-12.5",
		"(010) 1234": "(010) 1234", "": "",
	} {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSafeName(t *testing.T) {
	for in, want := range map[string]string{
		"合同.pdf": "合同.pdf", "../../etc/passwd": "_.._etc_passwd", `a\b:c*?.txt`: "a_b_c__.txt", "..": "file", "": "file",
		"x\x00y\n.txt": "x_y_.txt", " .hidden ": "hidden",
	} {
		if got := safeName(in); got != want {
			t.Errorf("safeName(%q) = %q, want %q", in, got, want)
		}
	}
	long := ""
	for range 300 {
		long += "长"
	}
	if got := []rune(safeName(long)); len(got) != 100 {
		t.Errorf("long name kept %d runes", len(got))
	}
}
