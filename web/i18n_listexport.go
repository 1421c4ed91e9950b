package web

import "github.com/havencrm/haven/exportgov"

// Strings of the per-list export buttons and the export rules page, in
// English and Simplified Chinese. The audit page learns the export
// action's name here.
func init() {
	for k, v := range listExportCatalog {
		catalog[k] = v
	}
	auditActions = append(auditActions, exportgov.ActionListExported)
	flashKinds["export_rules_saved"] = false
}

var listExportCatalog = map[string][2]string{
	"action." + exportgov.ActionListExported: {"List exported", "导出列表"},

	"listexport.csv":          {"Export CSV", "导出 CSV"},
	"listexport.xlsx":         {"Export XLSX", "导出 XLSX"},
	"listexport.hint":         {"Exports the whole list with the current search and sort, as you see it.", "按当前的搜索和排序导出整个列表，内容与您看到的一致。"},
	"listexport.refused":      {"Export refused", "导出被拒绝"},
	"listexport.quota":        {"This export has %d rows, but only %d of your daily quota of %d rows remain today. Narrow the list, try again tomorrow, or ask an administrator to raise the quota.", "本次导出共 %d 行，但您今天只剩 %d 行额度（每日额度 %d 行）。请缩小列表范围、明天再试，或请管理员提高额度。"},
	"listexport.contract":     {"Exports are closed: the contract ended on %s. Until %s only administrators may export.", "导出已关闭：合同已于 %s 到期。%s 之前只有管理员可以导出。"},
	"listexport.contract_end": {"Exports are closed: the contract ended on %s and its grace period ended on %s.", "导出已关闭：合同已于 %s 到期，宽限期已于 %s 结束。"},
	"listexport.not_started":  {"Exports are not available yet: the contract has not started.", "导出尚不可用：合同尚未开始。"},
	"listexport.role":         {"Your role may not export lists. An administrator sets who may on the Export rules page.", "您的角色不能导出列表。管理员可在「导出规则」页面设置哪些角色可以导出。"},

	"nav.export_rules":          {"Export rules", "导出规则"},
	"exportrules.title":         {"Export rules", "导出规则"},
	"exportrules.subtitle":      {"Who may take data out of Haven as files, and how much per day. Every export is recorded in the audit log.", "谁可以将数据以文件形式导出 Haven，以及每天可以导出多少。每次导出都会记录在审计日志中。"},
	"exportrules.list_roles":    {"Roles that may export lists (CSV/XLSX of what they see)", "可以导出列表（其可见内容的 CSV/XLSX）的角色"},
	"exportrules.full_roles":    {"Roles that may export all data", "可以导出全部数据的角色"},
	"exportrules.admin_always":  {"Administrators always may export all data.", "管理员始终可以导出全部数据。"},
	"exportrules.quota":         {"Daily export quota per user (rows)", "每位用户每日导出额度（行）"},
	"exportrules.quota_hint":    {"Counted per calendar day in China Standard Time. 0 stops all exports.", "按北京时间的自然日计算。设为 0 则禁止一切导出。"},
	"exportrules.threshold":     {"E-mail administrators about exports of at least (rows)", "导出达到多少行时邮件通知管理员"},
	"exportrules.save":          {"Save rules", "保存规则"},
	"exportrules.err":           {"Please correct the marked fields.", "请更正标记的字段。"},
	"exportrules.err.number":    {"Enter a whole number.", "请输入整数。"},
	"exportrules.usage":         {"You have exported %d of %d rows today.", "您今天已导出 %d 行（额度 %d 行）。"},
	"flash.export_rules_saved":  {"The export rules have been saved.", "导出规则已保存。"},
	"exportrules.grace":         {"After the contract ends, only administrators may export, for %d days.", "合同到期后的 %d 天内，只有管理员可以导出。"},
	"exportrules.roles_legend":  {"Roles", "角色"},
	"exportrules.limits_legend": {"Limits", "限额"},
}
