package web

import "github.com/havencrm/haven/export"

// Strings of the "Export all data" page, in English and Simplified
// Chinese. The audit page learns the export actions here too.
func init() {
	for k, v := range dataExportCatalog {
		catalog[k] = v
	}
	auditActions = append(auditActions, export.ActionRequested, export.ActionCompleted, export.ActionFailed, export.ActionDownloaded)
}

var dataExportCatalog = map[string][2]string{
	"nav.data_export":            {"Export all data", "导出全部数据"},
	"flash.data_export_started":  {"The export has started. This page shows its progress.", "导出已开始，本页显示进度。"},
	"dataexport.title":           {"Export all data", "导出全部数据"},
	"dataexport.subtitle":        {"One zip with every record of every object (decrypted, as CSV and JSON Lines), users and roles, field settings, attachments and the verifiable audit log. Only you can download it, for 24 hours; then it is deleted.", "一个 zip 文件，包含所有对象的全部记录（已解密，CSV 与 JSON Lines 两种格式）、用户与角色、字段设置、附件以及可验证的审计日志。仅您本人可在 24 小时内下载，之后文件将被删除。"},
	"dataexport.recipient":       {"Encrypt to your age public key (optional)", "用您的 age 公钥加密（可选）"},
	"dataexport.recipient_hint":  {"An X25519 key starting with age1. Only the holder of the matching private key can open the file (age -d -i key.txt).", "以 age1 开头的 X25519 公钥。只有持有对应私钥的人才能打开文件（age -d -i key.txt）。"},
	"dataexport.passphrase":      {"Or encrypt with a passphrase (optional)", "或用口令加密（可选）"},
	"dataexport.passphrase_hint": {"At least 12 characters. Haven keeps it only while the export runs; it cannot be recovered.", "至少 12 个字符。Haven 仅在导出进行期间保存它，事后无法找回。"},
	"dataexport.start":           {"Export all data", "导出全部数据"},
	"dataexport.mine":            {"Your exports", "您的导出"},
	"dataexport.none":            {"You have not exported anything yet.", "您尚未导出过数据。"},
	"dataexport.created":         {"Requested", "申请时间"},
	"dataexport.status":          {"Status", "状态"},
	"dataexport.progress":        {"Progress", "进度"},
	"dataexport.records":         {"Records", "记录数"},
	"dataexport.encryption":      {"Encryption", "加密"},
	"dataexport.file":            {"File", "文件"},
	"dataexport.download":        {"Download", "下载"},
	"dataexport.expires":         {"Available until %s", "可下载至 %s"},
	"dataexport.size":            {"%s bytes", "%s 字节"},
	"dataexport.status.queued":   {"Queued", "排队中"},
	"dataexport.status.running":  {"Running", "进行中"},
	"dataexport.status.done":     {"Done", "已完成"},
	"dataexport.status.failed":   {"Failed", "失败"},
	"dataexport.status.expired":  {"Expired (deleted)", "已过期（已删除）"},
	"dataexport.enc.none":        {"None", "无"},
	"dataexport.enc.recipient":   {"age public key", "age 公钥"},
	"dataexport.enc.passphrase":  {"Passphrase", "口令"},
	"dataexport.err.invalid":     {"Please correct the fields below.", "请修改以下字段。"},
	"dataexport.err.one":         {"Give either a public key or a passphrase, not both.", "公钥与口令只能二选一。"},
	"dataexport.err.running":     {"An export of all data is already running. Wait for it to finish.", "已有一个全部数据导出正在进行，请等待其完成。"},
	"dataexport.err.recipient":   {"Enter an age X25519 public key (age1…).", "请输入 age X25519 公钥（age1…）。"},
	"dataexport.err.passphrase":  {"Use at least 12 characters.", "请至少使用 12 个字符。"},
	"dataexport.err.scope":       {"Only a full export is offered here.", "此处仅提供全部导出。"},
	"dataexport.gone.title":      {"This download has expired", "下载链接已过期"},
	"dataexport.gone.text":       {"The file was deleted when its 24 hours ran out. Start a new export.", "文件已在 24 小时期满后删除，请重新导出。"},
	"action.export.request":      {"Full export requested", "申请全部数据导出"},
	"action.export.complete":     {"Full export completed", "全部数据导出完成"},
	"action.export.fail":         {"Full export failed", "全部数据导出失败"},
	"action.export.download":     {"Full export downloaded", "下载全部数据导出"},
}
