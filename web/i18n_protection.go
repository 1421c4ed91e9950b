package web

// Strings of field protection: masked values on record pages, the reveal
// flow and the admins' field protection page, in English and Simplified
// Chinese.
func init() {
	for k, v := range protectionCatalog {
		catalog[k] = v
	}
	for k, v := range protectionFieldMessages {
		fieldMessages[k] = v
	}
}

var protectionCatalog = map[string][2]string{
	"nav.fields":        {"Field protection", "字段保护"},
	"flash.field_saved": {"Field protection saved.", "字段保护设置已保存。"},

	// Masked values on lists, record pages and forms.
	"masked.title":         {"Masked: you may see this value only partly", "已脱敏：您只能看到部分内容"},
	"masked.sr":            {"(masked)", "（已脱敏）"},
	"detail.show":          {"Show", "查看"},
	"detail.show_label":    {"Show the full %s (the view is recorded in the audit log)", "查看完整的%s（查看操作将记入审计日志）"},
	"form.masked_hint":     {"Masked for you. Leave empty to keep the current value; anything you type replaces it.", "该字段对您脱敏显示。留空将保留当前值；输入内容将替换当前值。"},
	"form.masked_keep":     {"— Keep the current value —", "— 保留当前值 —"},
	"form.readonly_hint":   {"You may see this field but not change it.", "您可以查看但不能修改此字段。"},
	"list.search_ph_exact": {"Search by name, or an exact %s…", "按名称搜索，或精确匹配%s…"},
	"list.search_masked":   {"Search is not available here: the names of these records are masked for you.", "此处无法搜索：这些记录的名称对您脱敏显示。"},

	// Reveal.
	"reveal.title":           {"Show %s", "查看%s"},
	"reveal.current":         {"Shown to you as", "当前显示为"},
	"reveal.intro":           {"This value is masked for you. You may see it in full once, for a stated reason. Who saw which value, when and why is recorded in the audit log, which your administrator reviews.", "该值对您脱敏显示。您可以说明理由后查看一次完整内容。查看人、查看的字段、时间和理由都会记入审计日志，由管理员审阅。"},
	"reveal.reason":          {"Reason", "查看理由"},
	"reveal.reason_hint":     {"For example: calling the customer back about order 1024. At most 500 characters.", "例如：就 1024 号订单回电客户。最多 500 个字符。"},
	"reveal.submit":          {"Show value", "查看完整内容"},
	"reveal.recorded":        {"This view has been recorded in the audit log with your reason.", "本次查看及您的理由已记入审计日志。"},
	"reveal.once":            {"The value is shown on this page only. It is not stored in your browser; to see it again, ask again.", "该值仅在本页显示，不会保存在浏览器中；如需再次查看，请重新申请。"},
	"reveal.back":            {"Back to the record", "返回记录"},
	"reveal.forbidden_title": {"You may not show this value", "您无权查看此值"},
	"reveal.forbidden_text":  {"Your role sees this field masked and may not show it in full. Ask your administrator if your work needs it.", "您的角色只能看到此字段的脱敏内容，无权查看完整内容。如工作需要，请联系管理员。"},

	// Field protection page.
	"fields.title":            {"Field protection", "字段保护"},
	"fields.subtitle":         {"Who sees each field how, and which fields are stored encrypted. Every change is recorded in the audit log.", "设置各角色对每个字段的可见程度，以及哪些字段加密存储。每次修改都会记入审计日志。"},
	"fields.objects":          {"Objects", "对象"},
	"fields.field":            {"Field", "字段"},
	"fields.encrypted":        {"Encrypted", "加密存储"},
	"fields.searchable":       {"Searchable", "可搜索"},
	"fields.mask":             {"Mask", "脱敏规则"},
	"fields.reveal":           {"May show in full", "可查看完整内容"},
	"fields.actions":          {"Actions", "操作"},
	"fields.edit":             {"Edit", "编辑"},
	"fields.edit_aria":        {"Edit the protection of %s", "编辑%s的保护设置"},
	"fields.name_badge":       {"Record name", "记录名称"},
	"fields.plain":            {"Not encrypted", "未加密"},
	"fields.converting_badge": {"Converting…", "转换中…"},
	"fields.none":             {"—", "—"},
	"fields.custom_keep":      {"Custom (first %d, last %d)", "自定义（保留前 %d 位、后 %d 位）"},
	"fields.list_sep":         {", ", "、"},
	"fields.legend":           {"Hidden: not shown anywhere. Masked: shown partly hidden, may be typed over but not read. Read only: shown, not editable. Edit: shown and editable.", "隐藏：任何地方都不显示。脱敏：部分隐藏显示，可以输入新值但不能读取原值。只读：显示但不能修改。编辑：显示且可以修改。"},

	"fields.edit_title":      {"Protection of %s", "%s的保护设置"},
	"fields.storage":         {"Storage", "存储"},
	"fields.encrypted_hint":  {"Values are stored encrypted with your organization's key. Encrypted fields cannot be sorted.", "字段值使用本组织的密钥加密存储。加密字段不能排序。"},
	"fields.not_encryptable": {"Values of this type cannot be encrypted.", "此类型的字段不能加密。"},
	"fields.name_hint":       {"The name field identifies records everywhere and cannot be encrypted; mask it instead.", "名称字段在各处用于识别记录，不能加密；可改为脱敏。"},
	"fields.searchable_hint": {"Encrypted values can still be found by exact match (quick search and filters) by those who may read them.", "有权读取的用户仍可通过精确匹配（快速搜索和筛选）找到加密值。"},
	"fields.masking":         {"Masking", "脱敏"},
	"fields.mask_hint":       {"How the value looks to roles that see it masked.", "对脱敏角色显示的形式。"},
	"fields.keep_first":      {"Keep first characters", "保留开头字符数"},
	"fields.keep_last":       {"Keep last characters", "保留结尾字符数"},
	"fields.keep_hint":       {"Custom rule only, 0 to 20.", "仅用于自定义规则，0 至 20。"},
	"fields.levels":          {"Access by role", "各角色的访问级别"},
	"fields.reveal_legend":   {"Roles that may show a masked value in full", "可查看完整内容的角色"},
	"fields.reveal_hint":     {"Applies where the role sees the field masked. Each view needs a reason and is recorded in the audit log.", "仅对该字段脱敏显示的角色有效。每次查看都需填写理由，并记入审计日志。"},
	"fields.save":            {"Save", "保存"},
	"fields.cancel":          {"Cancel", "取消"},
	"fields.errors":          {"Some settings are not valid; see below.", "部分设置无效，请查看下方说明。"},
	"fields.pending_note":    {"Stored values of this field are being converted. You can still change its settings; the conversion follows the latest ones.", "该字段已存储的值正在转换。您仍可修改设置，转换将按最新设置进行。"},
	"fields.type":            {"Type: %s", "类型：%s"},

	"fields.progress_title":  {"Conversion of %s", "%s的转换"},
	"fields.converting":      {"Converting stored values…", "正在转换已存储的值…"},
	"fields.converting_text": {"Existing values are being re-encrypted or decrypted in the background. Records stay readable and editable meanwhile. This page updates itself every 2 seconds.", "已有的值正在后台重新加密或解密，期间记录仍可正常查看和编辑。本页每 2 秒自动刷新。"},
	"fields.converted":       {"Conversion finished", "转换已完成"},
	"fields.converted_text":  {"Every stored value now follows the field's settings.", "所有已存储的值均已符合该字段的设置。"},
	"fields.failed":          {"Conversion failed", "转换失败"},
	"fields.failed_text":     {"The background job stopped with an error. Records stay readable; save the field again to retry.", "后台任务因错误而停止。记录仍可读取；重新保存该字段设置即可重试。"},
	"fields.progress_label":  {"Progress", "进度"},
	"fields.percent":         {"%d%% done", "已完成 %d%%"},
	"fields.state":           {"State: %s", "状态：%s"},
	"fields.back":            {"Back to the fields", "返回字段列表"},
	"fields.edit_again":      {"Edit this field", "编辑该字段"},

	"fields.err.type":         {"%s fields cannot be encrypted.", "%s字段不能加密。"},
	"fields.err.role":         {"Unknown role %s.", "未知角色 %s。"},
	"fields.err.keep":         {"The characters to keep must be between 0 and %s.", "保留字符数必须介于 0 和 %s 之间。"},
	"fields.err.number":       {"Enter a whole number.", "请输入整数。"},
	"fields.err.name_encrypt": {"The name field identifies records in lists, lookups and the audit log and cannot be encrypted; mask it instead.", "名称字段用于在列表、关联和审计日志中识别记录，不能加密；可改为脱敏。"},
	"fields.err.searchable":   {"Only encrypted fields have a search setting; other fields can always be searched and filtered.", "只有加密字段才有搜索设置；其他字段始终可以搜索和筛选。"},
	"fields.err.mask":         {"Choose a mask rule from the list.", "请从列表中选择脱敏规则。"},
	"fields.err.keep_custom":  {"The characters to keep apply only to the custom rule.", "保留字符数仅适用于自定义规则。"},
	"fields.err.level":        {"Choose hidden, masked, read only or edit for every role.", "请为每个角色选择隐藏、脱敏、只读或编辑。"},
	"fields.err.name_hidden":  {"The name field can be masked but not hidden.", "名称字段可以脱敏，但不能隐藏。"},

	"level.hidden": {"Hidden", "隐藏"},
	"level.masked": {"Masked", "脱敏"},
	"level.read":   {"Read only", "只读"},
	"level.edit":   {"Edit", "编辑"},

	"mask.full":      {"Whole value", "全部隐藏"},
	"mask.mobile":    {"Mobile number", "手机号"},
	"mask.landline":  {"Landline", "固定电话"},
	"mask.email":     {"E-mail address", "邮箱地址"},
	"mask.id_number": {"ID number", "身份证号"},
	"mask.bank_card": {"Bank card", "银行卡号"},
	"mask.name":      {"Personal name", "姓名"},
	"mask.address":   {"Address (down to the city)", "地址（保留到城市）"},
	"mask.custom":    {"Custom", "自定义"},

	"mask.example.full":      {"****", "****"},
	"mask.example.mobile":    {"138****5678", "138****5678"},
	"mask.example.landline":  {"010-****5678", "010-****5678"},
	"mask.example.email":     {"a***@example.com", "a***@example.com"},
	"mask.example.id_number": {"110***********1234", "110***********1234"},
	"mask.example.bank_card": {"**** **** **** 5678", "**** **** **** 5678"},
	"mask.example.name":      {"A**** S****, 张*", "张*、A**** S****"},
	"mask.example.address":   {"****, CA, USA", "上海市****"},
	"mask.example.custom":    {"keep the first and last characters you choose", "保留指定数量的开头和结尾字符"},

	"ftype.text":     {"Text", "文本"},
	"ftype.textarea": {"Long text", "长文本"},
	"ftype.number":   {"Number", "数字"},
	"ftype.currency": {"Currency", "金额"},
	"ftype.date":     {"Date", "日期"},
	"ftype.datetime": {"Date and time", "日期时间"},
	"ftype.boolean":  {"Yes/no", "是/否"},
	"ftype.picklist": {"Picklist", "选项列表"},
	"ftype.email":    {"E-mail", "邮箱"},
	"ftype.phone":    {"Phone", "电话"},
	"ftype.url":      {"Web address", "网址"},
	"ftype.lookup":   {"Lookup", "关联"},

	"job.queued":    {"queued", "排队中"},
	"job.running":   {"running", "运行中"},
	"job.succeeded": {"finished", "已完成"},
	"job.failed":    {"failed", "失败"},

	// Audit entries of these features.
	"action.record.reveal":       {"Masked value shown", "查看脱敏值"},
	"action.field.update":        {"Field protection changed", "修改字段保护"},
	"ufield.field":               {"Field", "字段"},
	"ufield.field.encrypted":     {"Encrypted", "加密存储"},
	"ufield.field.searchable":    {"Searchable", "可搜索"},
	"ufield.field.mask":          {"Mask", "脱敏规则"},
	"ufield.field.keep":          {"Characters kept (first/last)", "保留字符数（前/后）"},
	"ufield.field.reveal":        {"May show in full", "可查看完整内容"},
	"ufield.field.level.admin":   {"Level: admin", "级别：管理员"},
	"ufield.field.level.manager": {"Level: manager", "级别：经理"},
	"ufield.field.level.sales":   {"Level: sales", "级别：销售"},
}

// protectionFieldMessages are the records service's messages about
// protected fields and reveal reasons.
var protectionFieldMessages = map[string][2]string{
	"you may not change this field":                      {"You may not change this field.", "您无权修改此字段。"},
	"say why you need to see this value":                 {"Say why you need to see this value.", "请说明查看此值的理由。"},
	"at most 500 characters, without control characters": {"At most 500 characters, without control characters.", "最多 500 个字符，且不能包含控制字符。"},
}
