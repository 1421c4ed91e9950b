package attachments

import (
	"bytes"
	"mime"
	"net/http"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/havencrm/haven/apperr"
)

// SniffLen is how many leading bytes decide a file's type (what
// http.DetectContentType looks at).
const SniffLen = 512

// MaxFilenameRunes bounds an original file name.
const MaxFilenameRunes = 200

// Reasons in the details of upload errors, stable for clients and the web
// UI's messages.
const (
	ReasonTooLarge     = "too_large"
	ReasonEmpty        = "empty"
	ReasonType         = "type_not_allowed"
	ReasonTypeMismatch = "type_mismatch"
	ReasonFilename     = "bad_filename"
)

// kind is one allowed file type: the type stored and served, the
// extensions a name may end in, and the declared types that agree with it.
type kind struct {
	contentType string
	exts        []string
	declared    []string
}

var (
	kindPDF  = kind{"application/pdf", []string{".pdf"}, []string{"application/pdf", "application/x-pdf"}}
	kindPNG  = kind{"image/png", []string{".png"}, []string{"image/png", "image/x-png"}}
	kindJPEG = kind{"image/jpeg", []string{".jpg", ".jpeg", ".jpe", ".jfif"}, []string{"image/jpeg", "image/jpg", "image/pjpeg"}}
	kindGIF  = kind{"image/gif", []string{".gif"}, []string{"image/gif"}}
	kindWebP = kind{"image/webp", []string{".webp"}, []string{"image/webp"}}
	kindText = kind{"text/plain; charset=utf-8", []string{".txt", ".text", ".log"}, []string{"text/plain"}}
	// Browsers on Windows declare CSV files as Excel's type.
	kindCSV = kind{"text/csv; charset=utf-8", []string{".csv"},
		[]string{"text/csv", "text/plain", "application/csv", "text/comma-separated-values", "text/x-csv", "application/vnd.ms-excel"}}
	zipDeclared = []string{"application/zip", "application/x-zip-compressed", "application/x-zip"}
	kindDOCX    = kind{"application/vnd.openxmlformats-officedocument.wordprocessingml.document", []string{".docx"},
		append([]string{"application/vnd.openxmlformats-officedocument.wordprocessingml.document"}, zipDeclared...)}
	kindXLSX = kind{"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", []string{".xlsx"},
		append([]string{"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}, zipDeclared...)}
	kindPPTX = kind{"application/vnd.openxmlformats-officedocument.presentationml.presentation", []string{".pptx"},
		append([]string{"application/vnd.openxmlformats-officedocument.presentationml.presentation"}, zipDeclared...)}
)

// AllowedExtensions lists the file name extensions uploads may have, for
// forms (the accept attribute) and messages.
var AllowedExtensions = []string{".pdf", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".txt", ".csv", ".docx", ".xlsx", ".pptx"}

// dangerousExts are refused whatever the content looks like: a browser
// or desktop would run or render them.
var dangerousExts = []string{".html", ".htm", ".xhtml", ".shtml", ".svg", ".svgz", ".xml", ".xsl", ".js", ".mjs", ".exe", ".dll",
	".com", ".bat", ".cmd", ".ps1", ".vbs", ".scr", ".msi", ".jar", ".sh", ".app", ".hta", ".lnk", ".swf", ".php", ".jsp", ".asp", ".aspx"}

// declaredBlocked are declared types refused outright.
var declaredBlocked = []string{"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml", "text/javascript",
	"application/javascript", "application/x-msdownload", "application/x-sh", "application/x-executable", "application/java-archive"}

// markupMarkers betray markup in a file sniffed as text: a browser that
// ignored the served type could render it.
var markupMarkers = [][]byte{[]byte("<svg"), []byte("<html"), []byte("<script"), []byte("<!doctype"), []byte("<?xml"), []byte("<iframe"), []byte("<body")}

// classify decides the stored content type of a file from its first bytes
// (head), its name and the type its uploader declared. The content
// decides; the name's extension and the declared type must agree with it.
func classify(head []byte, filename, declared string) (string, error) {
	ext := strings.ToLower(path.Ext(filename))
	if slices.Contains(dangerousExts, ext) {
		return "", typeErr(ReasonType, "files of type %s cannot be attached", ext)
	}
	declaredType := ""
	if declared != "" {
		mt, _, err := mime.ParseMediaType(declared)
		if err != nil {
			return "", typeErr(ReasonTypeMismatch, "the declared content type is not a valid media type")
		}
		declaredType = mt
	}
	if slices.Contains(declaredBlocked, declaredType) {
		return "", typeErr(ReasonType, "files of type %s cannot be attached", declaredType)
	}
	sniffed := http.DetectContentType(head)
	mt, params, _ := mime.ParseMediaType(sniffed)
	var k kind
	switch mt {
	case "application/pdf":
		k = kindPDF
	case "image/png":
		k = kindPNG
	case "image/jpeg":
		k = kindJPEG
	case "image/gif":
		k = kindGIF
	case "image/webp":
		k = kindWebP
	case "text/plain":
		if params["charset"] != "utf-8" {
			// UTF-16 text (DetectContentType's other charsets) is rare in
			// uploads and easy to mistake for binary; keep to one encoding.
			return "", typeErr(ReasonType, "text files must be UTF-8 (or another ASCII-compatible encoding)")
		}
		lower := bytes.ToLower(head)
		for _, m := range markupMarkers {
			if bytes.Contains(lower, m) {
				return "", typeErr(ReasonType, "HTML, SVG and XML files cannot be attached")
			}
		}
		k = kindText
		if ext == ".csv" {
			k = kindCSV
		}
	case "application/zip":
		// Office documents are zip archives; only the three OOXML formats
		// are accepted, by extension, and only with the zip local file
		// header magic at the start.
		if !bytes.HasPrefix(head, []byte("PK\x03\x04")) {
			return "", typeErr(ReasonType, "this kind of file cannot be attached")
		}
		switch ext {
		case ".docx":
			k = kindDOCX
		case ".xlsx":
			k = kindXLSX
		case ".pptx":
			k = kindPPTX
		default:
			return "", typeErr(ReasonType, "zip archives can be attached only as Word, Excel or PowerPoint documents (.docx, .xlsx, .pptx)")
		}
	case "text/html", "text/xml", "image/svg+xml":
		return "", typeErr(ReasonType, "HTML, SVG and XML files cannot be attached")
	default:
		return "", typeErr(ReasonType, "this kind of file cannot be attached; allowed are PDF, PNG, JPEG, GIF, WebP, plain text, CSV and Word, Excel or PowerPoint documents")
	}
	if !slices.Contains(k.exts, ext) {
		return "", typeErr(ReasonTypeMismatch, "the file name must end in %s to match its content (%s)", strings.Join(k.exts, " or "), displayType(k.contentType))
	}
	// Browsers declare application/octet-stream for types they do not
	// know; that says nothing, so it is not held against the file.
	if declaredType != "" && declaredType != "application/octet-stream" && !slices.Contains(k.declared, declaredType) {
		return "", typeErr(ReasonTypeMismatch, "the declared content type %s does not match the file's content (%s)", declaredType, displayType(k.contentType))
	}
	return k.contentType, nil
}

func displayType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return mt
}

func typeErr(reason, format string, args ...any) error {
	return apperr.Invalid(format, args...).WithDetail("reason", reason)
}

// CleanFilename returns the name an upload is stored under: the last
// path element (old browsers send a whole path), trimmed. Names that are
// empty, too long, not UTF-8, or hold control or invisible formatting
// characters (a right-to-left override can dress "gpj.exe" as
// "exe.jpg") are refused.
func CleanFilename(name string) (string, error) {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimSpace(name)
	bad := func(msg string) (string, error) {
		return "", apperr.Invalid("file name: %s", msg).WithDetail("reason", ReasonFilename)
	}
	switch {
	case name == "" || name == "." || name == "..":
		return bad("required")
	case !utf8.ValidString(name):
		return bad("must be valid UTF-8")
	case utf8.RuneCountInString(name) > MaxFilenameRunes:
		return bad("at most 200 characters")
	case strings.ContainsFunc(name, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError }):
		return bad("must not contain control or invisible formatting characters")
	}
	return name, nil
}
