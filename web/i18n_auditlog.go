package web

import (
	"github.com/havencrm/haven/audit"
	"github.com/havencrm/haven/identity"
)

// Strings of the audit log page's filters, integrity check and export,
// in English and Simplified Chinese, and the filter's remaining actions.
func init() {
	for k, v := range auditLogCatalog {
		catalog[k] = v
	}
	// Labels of actions and object types other pages record: another
	// file's own wording, where it has one, wins.
	for k, v := range auditLogLabels {
		if _, ok := catalog[k]; !ok {
			catalog[k] = v
		}
	}
	auditActions = append(auditActions,
		audit.ActionSettingsUpdated, audit.ActionFieldUpdated, audit.ActionRecordRevealed,
		audit.ActionDataKeyRotated, audit.ActionDataKeysDestroyed, audit.ActionKEKRotated, audit.ActionBYOKEnabled, audit.ActionBYOKDisabled,
		audit.ActionAuditExported, audit.ActionAuditPurged,
		identity.ActionMFAEnabled, identity.ActionMFADisabled, identity.ActionMFAReset, identity.ActionMFARecoveryCodeUsed,
		identity.ActionSessionRevoked, identity.ActionUserOffboarded, identity.ActionOwnerChanged,
		identity.ActionTokenCreated, identity.ActionTokenRevoked,
		identity.ActionRecoveryStarted, identity.ActionRecoveryCompleted, identity.ActionRecoveryFailed,
	)
}

var auditLogCatalog = map[string][2]string{
	"audit.object_id":      {"Object ID", "对象 ID"},
	"audit.object_id_hint": {"e.g. a record's ID", "例如记录的 ID"},
	"audit.seq":            {"No.", "序号"},
	"audit.bad_actor":      {"The user filter was not a valid user ID and was ignored.", "用户筛选条件不是有效的用户 ID，已忽略。"},
	"audit.bad_action":     {"The action filter was not a valid action name and was ignored.", "操作筛选条件不是有效的操作名称，已忽略。"},
	"audit.bad_object":     {"The object type filter was not a valid type and was ignored.", "对象类型筛选条件无效，已忽略。"},
	"audit.bad_object_id":  {"Object IDs are at most 128 characters without spaces; the invalid ID was ignored.", "对象 ID 最多 128 个字符且不含空格，无效 ID 已忽略。"},
	"audit.bad_cursor":     {"The page position was not valid; showing the newest events.", "分页位置无效，已显示最新事件。"},

	"audit.verify_title":        {"Integrity", "完整性校验"},
	"audit.verify_intro":        {"Recompute the hash chain of every event and check every signed checkpoint. This reads the whole trail, so it runs only when you ask.", "重新计算所有事件的哈希链并校验每个签名检查点。校验需要读取全部日志，因此仅在您发起时运行。"},
	"audit.verify_now":          {"Verify now", "立即校验"},
	"audit.verify_again":        {"Verify again", "重新校验"},
	"audit.verify_meta":         {"Checked %s, took %s.", "校验时间 %s，耗时 %s。"},
	"audit.verify_ok":           {"Verified: %s, %s.", "校验通过：%s，%s。"},
	"audit.n_events":            {"%d events", "%d 条事件"},
	"audit.n_events.one":        {"%d event", "%d 条事件"},
	"audit.n_checkpoints":       {"%d signed checkpoints", "%d 个签名检查点"},
	"audit.n_checkpoints.one":   {"%d signed checkpoint", "%d 个签名检查点"},
	"audit.n_newer":             {"%d newer events are", "之后的 %d 条事件"},
	"audit.n_newer.one":         {"%d newer event is", "之后的 %d 条事件"},
	"audit.verify_empty":        {"Verified: the trail holds no events yet.", "校验通过：日志中暂无事件。"},
	"audit.verify_signed":       {"The last checkpoint covers events up to No. %d; %s not signed yet (the next checkpoint will cover them).", "最后一个检查点覆盖至第 %d 号事件；%s尚未签名（将由下一个检查点覆盖）。"},
	"audit.verify_signed_all":   {"The last checkpoint covers every event, up to No. %d.", "最后一个检查点已覆盖全部事件，至第 %d 号。"},
	"audit.verify_unsigned_all": {"No checkpoint has been signed yet: the chain of %s is intact but not yet signed.", "尚未签署任何检查点：%s的哈希链完整，但尚未签名。"},
	"audit.verify_anchored":     {"Events up to No. %d were removed by a retention purge behind a signed anchor.", "第 %d 号及之前的事件已按保留策略清除，由签名锚点衔接。"},
	"audit.verify_broken":       {"The audit trail does not verify: it first breaks at event No. %d.", "审计日志校验失败：首个异常位于第 %d 号事件。"},
	"audit.verify_reason":       {"Reason:", "原因："},
	"audit.verify_show":         {"Show event No. %d", "查看第 %d 号事件"},
	"audit.verify_broken_help":  {"Events may have been changed, removed or inserted directly in the database. Keep an export of the trail as evidence and contact your security officer.", "事件可能已在数据库中被直接修改、删除或插入。请导出日志留存证据，并联系您的安全负责人。"},
	"audit.verify_timeout":      {"The check took too long and was stopped. Export the trail and verify it offline instead.", "校验耗时过长，已停止。请导出日志后离线校验。"},
	"audit.verify_error":        {"The check could not run. Request ID: %s", "校验未能运行。请求 ID：%s"},

	"audit.export_title":  {"Export and offline verification", "导出与离线校验"},
	"audit.export_button": {"Download audit trail (JSONL)", "下载审计日志（JSONL）"},
	"audit.keys_button":   {"Download public keys", "下载公钥"},
	"audit.export_text":   {"The export holds every event with its hash and every signed checkpoint, as JSON Lines; downloading it is itself recorded in the log. To check it without Haven's servers, save the public keys too and run the command below anywhere the haven program runs. It recomputes the chain and checks the signatures against the keys you give it, not the keys inside the file, so keep a copy of the key file from an earlier download and compare them.", "导出文件以 JSON Lines 格式包含所有事件及其哈希和全部签名检查点；下载本身也会记入日志。如需脱离 Haven 服务器进行校验，请同时保存公钥，并在任何可运行 haven 程序的环境中执行下方命令。该命令会重新计算哈希链，并使用您提供的公钥（而非文件内自带的公钥）校验签名，因此请保留早先下载的公钥文件以便比对。"},
	"audit.export_cmd":    {"Verify offline", "离线校验命令"},

	"audit.full_trail": {"Full audit trail", "完整审计记录"},
}

var auditLogLabels = map[string][2]string{
	"action.settings.update":         {"Security settings changed", "修改安全设置"},
	"action.keys.rotate_data_key":    {"Data key rotated", "轮换数据密钥"},
	"action.keys.destroy":            {"Data keys destroyed", "销毁数据密钥"},
	"action.keys.rotated":            {"Key-encryption key rotated", "轮换密钥加密密钥"},
	"action.keys.byok_enabled":       {"Own key enabled", "启用自有密钥"},
	"action.keys.byok_disabled":      {"Own key disabled", "停用自有密钥"},
	"action.audit.export":            {"Audit trail exported", "导出审计日志"},
	"action.audit.purge":             {"Old audit events purged", "清除过期审计事件"},
	"action.mfa.enable":              {"Two-factor enabled", "启用双因素认证"},
	"action.mfa.disable":             {"Two-factor disabled", "停用双因素认证"},
	"action.mfa.reset":               {"Two-factor reset", "重置双因素认证"},
	"action.mfa.recovery_code_used":  {"Recovery code used", "使用恢复码"},
	"action.session.revoke":          {"Session ended", "结束会话"},
	"action.user.offboard":           {"User offboarded", "办理离职"},
	"action.record.transfer":         {"Owner changed", "变更负责人"},
	"action.token.create":            {"API token created", "创建 API 令牌"},
	"action.token.revoke":            {"API token revoked", "吊销 API 令牌"},
	"action.auth.recovery_started":   {"Password recovery started", "发起找回密码"},
	"action.auth.recovery_completed": {"Password recovered", "完成找回密码"},
	"action.auth.recovery_failed":    {"Password recovery failed", "找回密码失败"},

	"objtype.settings":   {"Settings", "设置"},
	"objtype.session":    {"Session", "会话"},
	"objtype.api_token":  {"API token", "API 令牌"},
	"objtype.attachment": {"Attachment", "附件"},
	"objtype.keys":       {"Keys", "密钥"},
	"objtype.data_key":   {"Data key", "数据密钥"},
	"objtype.audit":      {"Audit log", "审计日志"},
}
