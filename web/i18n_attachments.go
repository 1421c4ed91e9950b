package web

import "github.com/havencrm/haven/audit"

func init() {
	for k, v := range attachmentsCatalog {
		catalog[k] = v
	}
	for k, bad := range map[string]bool{
		"attachment_uploaded": false, "attachment_deleted": false, "attachment_missing": true, "attachment_failed": true,
		"attachment_too_large": true, "attachment_empty": true, "attachment_type_not_allowed": true,
		"attachment_type_mismatch": true, "attachment_bad_filename": true,
	} {
		flashKinds[k] = bad
	}
	auditActions = append(auditActions, audit.ActionAttachmentUploaded, audit.ActionAttachmentDownloaded, audit.ActionAttachmentDeleted)
}

var attachmentsCatalog = map[string][2]string{
	"att.title":          {"Attachments", "附件"},
	"att.empty":          {"No files attached yet.", "暂无附件。"},
	"att.unavailable":    {"The attachments cannot be shown right now.", "暂时无法显示附件。"},
	"att.name":           {"File", "文件"},
	"att.type":           {"Type", "类型"},
	"att.size":           {"Size", "大小"},
	"att.added":          {"Added", "上传"},
	"att.actions":        {"Actions", "操作"},
	"att.choose":         {"Attach a file", "上传附件"},
	"att.upload":         {"Upload", "上传"},
	"att.hint":           {"PDF, images (PNG, JPEG, GIF, WebP), text or CSV, Word, Excel or PowerPoint; at most %s. Files are stored encrypted.", "支持 PDF、图片（PNG、JPEG、GIF、WebP）、文本或 CSV、Word、Excel 或 PowerPoint 文件，最大 %s。文件加密存储。"},
	"att.delete":         {"Delete", "删除"},
	"att.delete_confirm": {"Delete the file %s? This cannot be undone.", "确定删除文件 %s？此操作无法撤销。"},
	"att.delete_yes":     {"Delete file", "删除文件"},
	"att.bytes":          {"%d bytes", "%d 字节"},

	"att.type.application/pdf": {"PDF", "PDF"},
	"att.type.image/png":       {"PNG image", "PNG 图片"},
	"att.type.image/jpeg":      {"JPEG image", "JPEG 图片"},
	"att.type.image/gif":       {"GIF image", "GIF 图片"},
	"att.type.image/webp":      {"WebP image", "WebP 图片"},
	"att.type.text/plain":      {"Text", "文本"},
	"att.type.text/csv":        {"CSV", "CSV"},
	"att.type.application/vnd.openxmlformats-officedocument.wordprocessingml.document":   {"Word document", "Word 文档"},
	"att.type.application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         {"Excel workbook", "Excel 工作簿"},
	"att.type.application/vnd.openxmlformats-officedocument.presentationml.presentation": {"PowerPoint presentation", "PowerPoint 演示文稿"},

	"flash.attachment_uploaded":         {"File attached.", "附件已上传。"},
	"flash.attachment_deleted":          {"File deleted.", "附件已删除。"},
	"flash.attachment_missing":          {"Choose a file to attach first.", "请先选择要上传的文件。"},
	"flash.attachment_failed":           {"The file could not be attached.", "附件上传失败。"},
	"flash.attachment_too_large":        {"The file is larger than the limit shown below the upload button.", "文件超过了上传按钮下方所示的大小限制。"},
	"flash.attachment_empty":            {"The file is empty.", "文件为空。"},
	"flash.attachment_type_not_allowed": {"This kind of file cannot be attached. Allowed are PDF, images, text or CSV and Office documents.", "不支持此类文件。仅支持 PDF、图片、文本或 CSV 以及 Office 文档。"},
	"flash.attachment_type_mismatch":    {"The file's name or type does not match its content (for example a PDF renamed to .jpg).", "文件名或类型与文件内容不符（例如将 PDF 文件改名为 .jpg）。"},
	"flash.attachment_bad_filename":     {"The file name is not allowed: use at most 200 characters without control characters.", "文件名不合规：最多 200 个字符，且不能包含控制字符。"},

	"action.attachment.upload":       {"File attached", "上传附件"},
	"action.attachment.download":     {"File downloaded", "下载附件"},
	"action.attachment.delete":       {"File deleted", "删除附件"},
	"ufield.attachment.object":       {"Object", "对象"},
	"ufield.attachment.record_id":    {"Record", "记录"},
	"ufield.attachment.size":         {"Size (bytes)", "大小（字节）"},
	"ufield.attachment.content_type": {"Content type", "内容类型"},
}
