package attachments

import (
	"mime"
	"strings"
	"testing"

	"github.com/havencrm/haven/apperr"
)

var (
	pdfHead  = []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
	pngHead  = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00")
	jpegHead = []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
	gifHead  = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00")
	webpHead = []byte("RIFF\x24\x00\x00\x00WEBPVP8 ")
	zipHead  = []byte("PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml")
	peHead   = []byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00")
)

func TestClassify(t *testing.T) {
	ok := []struct {
		head           []byte
		name, declared string
		want           string
	}{
		{pdfHead, "合同扫描.pdf", "application/pdf", "application/pdf"},
		{pdfHead, "scan.PDF", "", "application/pdf"},
		{pdfHead, "scan.pdf", "application/octet-stream", "application/pdf"},
		{pngHead, "id.png", "image/png", "image/png"},
		{jpegHead, "张三身份证.jpg", "image/jpeg", "image/jpeg"},
		{jpegHead, "photo.jpeg", "image/pjpeg", "image/jpeg"},
		{gifHead, "a.gif", "image/gif", "image/gif"},
		{webpHead, "a.webp", "", "image/webp"},
		{[]byte("name,phone\n张三,13800138000\n"), "contacts.csv", "application/vnd.ms-excel", "text/csv; charset=utf-8"},
		{[]byte("plain notes\n"), "notes.txt", "text/plain; charset=utf-8", "text/plain; charset=utf-8"},
		{zipHead, "contract.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{zipHead, "sheet.xlsx", "application/zip", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		{zipHead, "deck.pptx", "", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
	}
	for _, tc := range ok {
		got, err := classify(tc.head, tc.name, tc.declared)
		if err != nil || got != tc.want {
			t.Errorf("%s (%s): got %q, %v; want %q", tc.name, tc.declared, got, err, tc.want)
		}
	}
	bad := []struct {
		head           []byte
		name, declared string
		reason         string
	}{
		{[]byte("<!DOCTYPE html><html><script>alert(1)</script>"), "page.txt", "", ReasonType},
		{[]byte("<html><body>hi"), "page.html", "text/html", ReasonType},
		{[]byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), "logo.svg", "image/svg+xml", ReasonType},
		{[]byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), "logo.png", "image/png", ReasonType},
		{[]byte(`<?xml version="1.0"?><svg/>`), "logo.txt", "", ReasonType},
		{[]byte("  \n<svg onload=alert(1)>"), "x.txt", "text/plain", ReasonType},
		{peHead, "setup.exe", "application/x-msdownload", ReasonType},
		{peHead, "invoice.pdf", "application/pdf", ReasonType},
		{[]byte("#!/bin/sh\nrm -rf /\n"), "run.sh", "", ReasonType},
		{[]byte("echo hi\n"), "run.bat", "text/plain", ReasonType},
		{zipHead, "archive.zip", "application/zip", ReasonType},
		{zipHead, "archive.jar", "", ReasonType},
		{[]byte("\xfe\xff\x00h\x00i"), "utf16.txt", "", ReasonType},
		// The content decides; a name or declared type that disagrees is refused.
		{pdfHead, "scan.jpg", "image/jpeg", ReasonTypeMismatch},
		{pdfHead, "scan.pdf", "image/png", ReasonTypeMismatch},
		{pngHead, "id.png", "image/jpeg", ReasonTypeMismatch},
		{pngHead, "id", "image/png", ReasonTypeMismatch},
		{[]byte("hello"), "notes.txt", "application/pdf", ReasonTypeMismatch},
		{pdfHead, "scan.pdf", "not a type", ReasonTypeMismatch},
	}
	for _, tc := range bad {
		_, err := classify(tc.head, tc.name, tc.declared)
		e, ok := apperr.As(err)
		if !ok || e.Kind != apperr.KindInvalid || e.Details["reason"] != tc.reason {
			t.Errorf("%s (%s): got %v, want invalid %s", tc.name, tc.declared, err, tc.reason)
		}
	}
}

func TestCleanFilename(t *testing.T) {
	for in, want := range map[string]string{
		"张三身份证.jpg":                  "张三身份证.jpg",
		`C:\Users\zs\Desktop\合同.pdf`: "合同.pdf",
		"../../etc/passwd.txt":       "passwd.txt",
		"  report.pdf ":              "report.pdf",
	} {
		if got, err := CleanFilename(in); err != nil || got != want {
			t.Errorf("CleanFilename(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", " ", "..", "dir/", "a\x00.pdf", "a\nb.pdf", "gpj\u202e.exe", "\xff.pdf", strings.Repeat("长", 201) + ".pdf"} {
		if got, err := CleanFilename(in); err == nil {
			t.Errorf("CleanFilename(%q) = %q, want an error", in, got)
		}
	}
}

func TestContentDisposition(t *testing.T) {
	for name, want := range map[string]string{
		"张三身份证.jpg":       `attachment; filename="attachment.jpg"; filename*=UTF-8''%E5%BC%A0%E4%B8%89%E8%BA%AB%E4%BB%BD%E8%AF%81.jpg`,
		"report 2026.pdf": `attachment; filename="report 2026.pdf"; filename*=UTF-8''report%202026.pdf`,
		`a"b\c%d;e.txt`:   `attachment; filename="a_b_c_d;e.txt"; filename*=UTF-8''a%22b%5Cc%25d%3Be.txt`,
		"合同-v2.pdf":       `attachment; filename="__-v2.pdf"; filename*=UTF-8''%E5%90%88%E5%90%8C-v2.pdf`,
	} {
		got := ContentDisposition(name)
		if got != want {
			t.Errorf("ContentDisposition(%q)\n got %s\nwant %s", name, got, want)
		}
		// Go's own parser (as browsers do) recovers the exact name.
		_, params, err := mime.ParseMediaType(got)
		if err != nil || params["filename"] != name {
			t.Errorf("ContentDisposition(%q) parses to %q, %v", name, params["filename"], err)
		}
	}
}
