"""The privacy notice's wording, in English and in Japanese.

Only words live here: every fact the notice states (which columns, how many days, which
cookies, which recipients) is filled in by `collector.notice` from the running configuration
and the code that enforces it. A field is a template; `{name}` is a fact filled in, and
`` `x` `` marks a name shown as code. Each language must give every field, so a sentence
cannot be missing from one of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ashiato.beacon.vocabulary import PeriodName, Purpose

__all__ = ["FORMATS", "LANGUAGES", "Wording"]

FORMATS = ("md", "html")
"""What the notice is written as: Markdown, or a self-contained HTML page."""


@dataclass(frozen=True, slots=True)
class Wording:
    """Every sentence and label of the notice in one language."""

    lang: str
    title: str
    intro: str
    list_sep: str
    or_last: str
    and_last: str
    days: str
    one_day: str
    not_kept: str
    # 1. what is recorded
    recorded_heading: str
    recorded_intro: str
    choice: str
    signal_names: Mapping[str, str]  # by the setting that honours the signal
    signals_honoured: str
    signals_ignored: str
    default_opt_in: str
    default_opt_out: str
    server_logs: str
    purpose_heading: str
    purpose_names: Mapping[Purpose, str]
    purpose_about: Mapping[Purpose, str]
    columns_head: tuple[str, str]
    empty_note: str
    kept_by: Mapping[str, str]
    geo_on: str
    geo_off: str
    # 2. retention
    retention_heading: str
    retention_intro: str
    retention_head: tuple[str, str, str]
    period_holds: Mapping[PeriodName, str]
    blocks_note: str
    suppressions_note: str
    # 3. cookies
    cookies_heading: str
    cookies_intro: str
    cookies_head: tuple[str, str, str, str]
    consent_cookie_purpose: str
    consent_cookie_when: str
    visitor_cookie_purpose: str
    visitor_cookie_when: str
    no_visitor_cookie: str
    visitor_cookie_by_default: str
    cookies_refuse: str
    # 4. web beacons and e-mail
    beacons_heading: str
    beacon_about: str
    email_about: str
    email_optout: str
    # 5. the security window
    security_heading: str
    security_kept: str
    security_full_ip: str
    security_host: str
    security_user_agent: str
    security_none: str
    # 6. pseudonymization
    pseudonyms_heading: str
    pseudonyms: str
    pseudonym_key: str
    # 7. linking to members
    linking_heading: str
    linking: str
    linking_withdrawal: str
    # 8. rights
    rights_heading: str
    rights: tuple[str, ...]
    rights_how: str
    rights_after_erasure: str
    # 9. third parties
    parties_heading: str
    parties_intro: str
    parties_head: tuple[str, str, str, str]
    parties_per_member: str
    parties_aggregate: str
    parties_none: str
    parties_suspended: str


ENGLISH = Wording(
    lang="en",
    title="Access logs, cookies and web beacons",
    intro=(
        "This section says what our access log records, how long we keep it, and how you can "
        "control it. It is generated from the settings our collection server runs with "
        "(privacy policy version {version})."
    ),
    list_sep=", ",
    or_last=" or ",
    and_last=" and ",
    days="{days} days",
    one_day="1 day",
    not_kept="not kept",
    recorded_heading="1. What the access log records",
    recorded_intro=(
        "When you view a page that carries our web beacon, open one of our e-mails or click a "
        "link in it, or request a page from our web servers, we record the visit in our access "
        "log together with the consent that applied to it. What is recorded depends on the "
        "purposes that apply:"
    ),
    choice="You choose the purposes in our consent banner, and can change your choice at any time.",
    signal_names={
        "honor_gpc": "Global Privacy Control (`Sec-GPC`)",
        "honor_dnt": "Do Not Track (`DNT`)",
    },
    signals_honoured=(
        "If your browser sends {signals} and you have made no choice, only the necessary "
        "purpose applies."
    ),
    signals_ignored="{signals} alone does not change which purposes apply.",
    default_opt_in="If you have made no choice, only the necessary purpose applies.",
    default_opt_out=(
        "If you have made no choice, these purposes apply until you refuse them: {purposes}."
    ),
    server_logs=(
        "Lines from our web servers' own access logs carry no consent and are recorded under "
        "the necessary purpose only."
    ),
    purpose_heading="{name} ({code})",
    purpose_names={
        "necessary": "Necessary",
        "statistics": "Statistics",
        "personalization": "Personalization",
        "marketing": "Marketing",
    },
    purpose_about={
        "necessary": (
            "Running the service: delivering pages and e-mail, finding the cause of failures, "
            "and preventing unauthorized access and abuse. It applies to every visit."
        ),
        "statistics": (
            "Statistics on how our sites and e-mails are used, in a form that identifies no "
            "individual."
        ),
        "personalization": (
            "Recognizing a browser that returns, by a cookie, under a pseudonymous visitor ID."
        ),
        "marketing": (
            "Linking browsing and e-mail activity to the account of a registered member who "
            "allows it (see section 7)."
        ),
    },
    columns_head=("Item", "What it is"),
    empty_note="Items of a purpose that does not apply to a visit are left empty.",
    kept_by={
        "consent": (
            "{column} is also kept on the record of a consent change, a withdrawal included, so "
            "that the withdrawal stops any later linking of that browser."
        ),
    },
    geo_on=(
        "Location and network are looked up from the IP address in a database kept on our own "
        "servers; the address is not sent to any outside service."
    ),
    geo_off="We do not look up a location or network from the IP address.",
    retention_heading="2. How long we keep it",
    retention_intro=(
        "Each record belongs to one retention class: the widest purpose that applied to it, or "
        "the e-mail class for e-mail opens and clicks. A record is deleted once its class's "
        "period has passed."
    ),
    retention_head=("Class", "What it holds", "Kept for"),
    period_holds={
        "full_ip": (
            "The full IP address, the reverse-DNS host name and the full User-Agent text "
            "(see section 5)"
        ),
        "necessary": (
            "Records with the necessary purpose only, and lines from our web servers' access logs"
        ),
        "statistics": "Records with the statistics purpose",
        "personalization": "Records with a pseudonymous visitor ID",
        "marketing": "Records that may be linked to a registered member",
        "email": "E-mail opens and clicks",
        "audit": "The audit trail of every access to personal data: who, what, when and why",
        "provisions": "Records of provision to third parties",
    },
    blocks_note=(
        "Records are deleted in whole blocks: access-log records by the week, the audit trail "
        "and the records of provision by the month. A record may therefore stay up to a week "
        "(or a month) past its period, until the whole block it belongs to has passed it."
    ),
    suppressions_note=(
        "The list of people whose data may not be used, or who unsubscribed from our e-mail, "
        "has no period: an entry stays until it is lifted, and after a deletion as its proof. "
        "It holds a member ID or a pseudonym, never an address."
    ),
    cookies_heading="3. Cookies",
    cookies_intro=(
        "Our collection server ({host}) sets the cookies below for its own address; only it "
        "reads them."
    ),
    cookies_head=("Cookie", "Lifetime", "Purpose", "When it is set"),
    consent_cookie_purpose=(
        "Remembers the purposes you chose, so that each visit is recorded accordingly"
    ),
    consent_cookie_when="When you make or change a choice in our consent banner",
    visitor_cookie_purpose=(
        "Recognizes a returning browser (personalization). Its value is random; only a keyed "
        "hash of it is recorded (section 6). Page scripts cannot read it."
    ),
    visitor_cookie_when=(
        "Only while the personalization purpose applies; deleted once it no longer does"
    ),
    no_visitor_cookie=(
        "Without the personalization purpose no visitor cookie is set and no visitor ID is "
        "recorded."
    ),
    visitor_cookie_by_default=(
        "Because the personalization purpose applies while you have made no choice, the "
        "visitor cookie is set on your first visit; refusing personalization in our consent "
        "banner deletes it."
    ),
    cookies_refuse=(
        "You can refuse or withdraw your consent at any time in our consent banner, and block "
        "or delete cookies in your browser's settings. The necessary records are still made, "
        "without a visitor ID."
    ),
    beacons_heading="4. Web beacons and e-mail measurement",
    beacon_about=(
        "A web beacon is a small transparent image or script in a page that tells our "
        "collection server the page was viewed. It is linked with the visitor cookie only "
        "while the personalization purpose applies: if you refuse cookies, the view is "
        "recorded without a visitor ID."
    ),
    email_about=(
        "Our HTML e-mails contain a transparent image and links that pass through our "
        "collection server. When the image is loaded or a link is clicked, we record the open "
        "or the click with the campaign and a pseudonym of your address (a keyed hash, never "
        "the address itself). The image and links work for {token_days} days; opens and clicks "
        "are kept for {days}. Opens by mail services that fetch images by themselves, and "
        "clicks by link scanners, are marked as automated."
    ),
    email_optout=(
        "To stop it, use the unsubscribe link at the foot of our marketing e-mails: your "
        "address is put on our opt-out list, which is checked before every marketing mailing, "
        "and from then on its opens and clicks are recorded without the pseudonym or a visitor "
        "ID. Reading e-mail without loading images, or as plain text, also prevents open "
        "measurement."
    ),
    security_heading="5. Records kept to prevent unauthorized access",
    security_kept=(
        "To investigate and prevent unauthorized access and abuse, we keep {items} for {days}. "
        "Then they are cleared: what remains is the IP address shortened to its network part "
        "(`ip`) and the browser, operating system and device type read from the User-Agent."
    ),
    security_full_ip="the full IP address (`ip_full`)",
    security_host="the host name found by a reverse-DNS lookup of it (`host`)",
    security_user_agent="the full User-Agent text (`user_agent`)",
    security_none=(
        "We do not keep the full IP address: only its network part (`ip`) is recorded. The "
        "full User-Agent text is cleared by the first clean-up after the day of the visit; the "
        "browser, operating system and device type read from it remain."
    ),
    pseudonyms_heading="6. Pseudonymization and its key",
    pseudonyms=(
        "The access log holds identifiers only as pseudonyms: the visitor ID is a keyed hash "
        "(HMAC-SHA256) of the visitor cookie, and the recipient pseudonym a keyed hash of the "
        "e-mail address."
    ),
    pseudonym_key=(
        "The key is kept in a key file on our collection servers, apart from the database that "
        "holds the access log, so the log alone cannot be traced back to a cookie or an "
        "address. When we retire the visitor key we keep no copy of it, and the visitor IDs "
        "recorded until then can no longer be tied to any browser."
    ),
    linking_heading="7. Linking to member information",
    linking=(
        "We link access-log records to member information only for registered members who "
        "allow marketing use, and only for a browser whose consent includes the marketing "
        "purpose. Our own servers make the link after you log in; a member ID is never taken "
        "from what a browser sends. Such records are kept for {days}."
    ),
    linking_withdrawal=(
        "When you, or the browser, withdraw marketing consent, the link is removed at the next "
        "regular check. While all use of your data is suspended, links are kept but not used, "
        "so that the suspension keeps covering every browser linked to you."
    ),
    rights_heading="8. Your rights and how we handle requests",
    rights=(
        "Disclosure: a copy of everything the access log holds about you, with the links to "
        "your member account and the records of provision to third parties.",
        "Correction: a browser linked to your member account by mistake is unlinked.",
        "Deletion: your records, links and records of provision are deleted, and we confirm "
        "once they are physically gone from our storage.",
        "Suspension of use: of every use, or of statistics, personalization or marketing "
        "alone. Your data is then left out of that use: out of statistics, no visitor ID on new "
        "visits, or no linking and no marketing e-mail.",
        "Stop of provision to third parties: we suspend every use of your data, and it is then "
        "included in no provision.",
    ),
    rights_how=(
        "Please send requests to the contact point given in this privacy policy. To find your "
        "records we need your member ID, your e-mail address or the value of the {cookie} "
        "cookie in your browser. We act once we have confirmed that the request is yours. Every "
        "request we handle, like every other access to personal data, is written to the audit "
        "trail, which is kept for {days}."
    ),
    rights_after_erasure=(
        "After a deletion we keep only the record that it was done (the member ID or "
        "pseudonyms concerned, and when), so that it can be proven and nothing about you is "
        "linked again; an address that unsubscribed stays on the opt-out list, as a pseudonym, "
        "so that it is not mailed again."
    ),
    parties_heading="9. Provision to third parties",
    parties_intro=(
        "Our records of provision to third parties, kept for {days}, name these recipients:"
    ),
    parties_head=("Recipient", "Purpose", "Data provided", "Form"),
    parties_per_member="data of individual members",
    parties_aggregate="aggregate statistics",
    parties_none="Our records of provision to third parties list no provision of this data.",
    parties_suspended="The data of a member whose use is suspended is never provided.",
)


JAPANESE = Wording(
    lang="ja",
    title="アクセスログ、クッキーおよびウェブビーコンについて",
    intro=(
        "本項では、当社がアクセスログに記録する情報、その保存期間、およびお客様ご自身で管理する"
        "方法について説明します。本項は、当社の収集サーバーが実際に動作している設定から作成して"
        "います（プライバシーポリシーの版：{version}）。"
    ),
    list_sep="、",
    or_last="または",
    and_last="および",
    days="{days}日間",
    one_day="1日間",
    not_kept="保存しません",
    recorded_heading="1. アクセスログに記録する情報",
    recorded_intro=(
        "当社は、ウェブビーコンを設置したページが閲覧されたとき、当社からのメールが開封された"
        "ときやメール内のリンクがクリックされたとき、および当社のウェブサーバーにリクエストが"
        "あったときに、その内容を、適用される同意の状況とあわせてアクセスログに記録します。"
        "記録する項目は、適用される利用目的によって異なります。"
    ),
    choice="利用目的は、当サイトの同意管理画面でお選びいただけます。選択はいつでも変更できます。",
    signal_names={
        "honor_gpc": "Global Privacy Control（`Sec-GPC`）",
        "honor_dnt": "Do Not Track（`DNT`）",
    },
    signals_honoured=(
        "お客様のブラウザが{signals}を送信しており、お客様が選択をされていない場合は、"
        "必須の目的のみを適用します。"
    ),
    signals_ignored="{signals}の送信のみによって、適用する利用目的が変わることはありません。",
    default_opt_in="選択をされていない場合は、必須の目的のみを適用します。",
    default_opt_out=(
        "選択をされていない場合は、お客様が拒否されるまで、次の利用目的を適用します：{purposes}。"
    ),
    server_logs=(
        "当社のウェブサーバー自体のアクセスログには同意の情報が含まれないため、必須の目的の範囲"
        "でのみ記録します。"
    ),
    purpose_heading="{name}（{code}）",
    purpose_names={
        "necessary": "必須",
        "statistics": "統計",
        "personalization": "パーソナライズ",
        "marketing": "マーケティング",
    },
    purpose_about={
        "necessary": (
            "サービスの運営（ページやメールの配信、障害の原因調査、不正アクセスや不正利用の防止）"
            "のための記録です。すべてのアクセスに適用します。"
        ),
        "statistics": (
            "当社のサイトやメールの利用状況を、個人を特定できない形で統計として把握するための"
            "記録です。"
        ),
        "personalization": (
            "クッキーにより、再訪問されたブラウザを仮名の訪問者IDで識別するための記録です。"
        ),
        "marketing": (
            "閲覧やメールの開封・クリックの履歴を、これを許可された登録会員の会員情報と紐付ける"
            "ための記録です（7.を参照）。"
        ),
    },
    columns_head=("項目", "内容"),
    empty_note="そのアクセスに適用されない利用目的の項目は、空欄のまま記録します。",
    kept_by={
        "consent": (
            "{column}は、同意の変更（撤回を含む）の記録にも保存します。撤回の後にそのブラウザが"
            "紐付けられることのないようにするためです。"
        ),
    },
    geo_on=(
        "所在地やネットワークの情報は、当社のサーバー内に保管したデータベースを用いてIPアドレス"
        "から推定します。IPアドレスを外部のサービスに送信することはありません。"
    ),
    geo_off="IPアドレスから所在地やネットワークを推定することはありません。",
    retention_heading="2. 保存期間",
    retention_intro=(
        "各記録は、適用された利用目的のうち最も広いものに応じた保存区分に属します（メールの"
        "開封・クリックはメールの区分に属します）。保存期間を過ぎた記録は削除します。"
    ),
    retention_head=("保存区分", "対象", "保存期間"),
    period_holds={
        "full_ip": "IPアドレスの全桁、逆引きホスト名およびUser-Agentの文字列（5.を参照）",
        "necessary": "必須の目的のみが適用された記録、および当社ウェブサーバーのアクセスログ",
        "statistics": "統計の目的が適用された記録",
        "personalization": "仮名の訪問者IDを含む記録",
        "marketing": "登録会員と紐付けられる可能性のある記録",
        "email": "メールの開封およびクリックの記録",
        "audit": "個人データへのすべてのアクセスの監査記録（誰が、いつ、何を、何のために）",
        "provisions": "第三者提供の記録",
    },
    blocks_note=(
        "記録はまとめて削除します。アクセスログは週単位、監査記録と第三者提供の記録は月単位"
        "です。そのため個々の記録は、属する単位の全体が保存期間を過ぎるまで、保存期間の経過後"
        "最長で1週間（監査記録と第三者提供の記録は1か月）残ることがあります。"
    ),
    suppressions_note=(
        "利用の停止を求められた方、および当社のメールの配信を停止された方の一覧には保存期間を"
        "設けていません。各登録は解除されるまで、また削除のご請求に応じた後はその証跡として"
        "保存します。一覧には会員IDまたは仮名のみを記録し、メールアドレスは記録しません。"
    ),
    cookies_heading="3. クッキー",
    cookies_intro=(
        "当社の収集サーバー（{host}）は、次のクッキーを自らのアドレスに対して設定します。"
        "これらを読み取るのは収集サーバーのみです。"
    ),
    cookies_head=("クッキー名", "有効期間", "目的", "設定する時期"),
    consent_cookie_purpose="お客様が選択された利用目的を記憶し、各アクセスをそれに従って記録するため",
    consent_cookie_when="同意管理画面で選択または変更をされたとき",
    visitor_cookie_purpose=(
        "再訪問されたブラウザを識別するため（パーソナライズ）。値は無作為に生成したもので、"
        "記録するのはその鍵付きハッシュ値のみです（6.を参照）。ページ上のスクリプトからは"
        "読み取れません。"
    ),
    visitor_cookie_when="パーソナライズの目的が適用されている間のみ。適用されなくなった時点で削除します",
    no_visitor_cookie=(
        "パーソナライズの目的が適用されない場合、訪問者クッキーは設定せず、訪問者IDも記録しません。"
    ),
    visitor_cookie_by_default=(
        "選択をされていない間もパーソナライズの目的を適用するため、訪問者クッキーは初回の"
        "アクセス時に設定します。同意管理画面でパーソナライズを拒否されると削除します。"
    ),
    cookies_refuse=(
        "同意は、同意管理画面でいつでも拒否または撤回できます。また、ブラウザの設定により"
        "クッキーを拒否または削除することもできます。その場合も必須の記録は行いますが、"
        "訪問者IDは記録しません。"
    ),
    beacons_heading="4. ウェブビーコンとメールの開封・クリックの測定",
    beacon_about=(
        "ウェブビーコンとは、ページに埋め込まれた小さな透明の画像やスクリプトで、そのページが"
        "閲覧されたことを当社の収集サーバーに知らせるものです。ウェブビーコンが訪問者クッキーと"
        "連携するのはパーソナライズの目的が適用されている間に限られ、クッキーを拒否された場合、"
        "閲覧は訪問者IDなしで記録されます。"
    ),
    email_about=(
        "当社のHTML形式のメールには、透明の画像と、当社の収集サーバーを経由するリンクが含まれて"
        "います。画像が読み込まれたとき、またはリンクがクリックされたときに、キャンペーンと"
        "メールアドレスの仮名（鍵付きハッシュ値。アドレスそのものではありません）とともに、"
        "開封またはクリックを記録します。画像とリンクは{token_days}日間有効で、開封とクリックの"
        "記録は{days}保存します。メールサービスが自動的に画像を取得した開封や、リンクの検査"
        "による自動的なクリックは、その旨を付して記録します。"
    ),
    email_optout=(
        "測定の停止をご希望の場合は、当社のマーケティングメールの末尾にある配信停止のリンクを"
        "ご利用ください。メールアドレスは配信停止の一覧に登録され、マーケティングメールの送信の"
        "都度確認されます。以後の開封とクリックは、仮名と訪問者IDを含めずに記録します。画像を"
        "読み込まない設定やテキスト形式でメールをお読みいただくことでも、開封の測定を防ぐことが"
        "できます。"
    ),
    security_heading="5. 不正アクセスの防止のための記録",
    security_kept=(
        "不正アクセスや不正利用の調査と防止のため、{items}を{days}保存します。その後これらは"
        "消去し、ネットワーク部分のみに短縮したIPアドレス（`ip`）と、User-Agentから判定した"
        "ブラウザ、OSおよび端末の種類のみが残ります。"
    ),
    security_full_ip="IPアドレスの全桁（`ip_full`）",
    security_host="その逆引きにより得たホスト名（`host`）",
    security_user_agent="User-Agentの文字列（`user_agent`）",
    security_none=(
        "IPアドレスの全桁は保存せず、ネットワーク部分（`ip`）のみを記録します。User-Agentの"
        "文字列はアクセスの翌日以降の最初の消去処理で消去し、そこから判定したブラウザ、OSおよび"
        "端末の種類のみが残ります。"
    ),
    pseudonyms_heading="6. 仮名化とその鍵の管理",
    pseudonyms=(
        "アクセスログには、識別子を仮名としてのみ記録します。訪問者IDは訪問者クッキーの、"
        "受信者の仮名はメールアドレスの、それぞれ鍵付きハッシュ値（HMAC-SHA256）です。"
    ),
    pseudonym_key=(
        "この鍵は、アクセスログを保存するデータベースとは別に、収集サーバー上の鍵ファイルで"
        "管理しています。そのため、アクセスログだけからクッキーやメールアドレスをたどることは"
        "できません。訪問者IDの鍵を廃止する際は、その写しを残さないため、それまでに記録した"
        "訪問者IDはいずれのブラウザとも結び付けられなくなります。"
    ),
    linking_heading="7. 会員情報との紐付け",
    linking=(
        "当社がアクセスログを会員情報と紐付けるのは、マーケティングへの利用を許可された登録"
        "会員について、マーケティングの目的に同意されたブラウザの記録に限ります。紐付けは、"
        "お客様のログイン後に当社のサーバーが行うもので、ブラウザから送られる情報のみを根拠に"
        "会員IDを記録することはありません。これらの記録は{days}保存します。"
    ),
    linking_withdrawal=(
        "お客様またはそのブラウザでマーケティングへの同意が撤回された場合、次回の定期確認で"
        "紐付けを解除します。ただし、お客様のデータの利用をすべて停止している間は、停止が"
        "紐付いたすべてのブラウザに及ぶよう、紐付けを利用しないまま維持します。"
    ),
    rights_heading="8. 開示等のご請求とその手続",
    rights=(
        "開示：アクセスログに記録しているお客様に関するすべての情報を、会員情報との紐付けおよび"
        "第三者提供の記録とあわせてお知らせします。",
        "訂正：誤ってお客様の会員情報に紐付けられたブラウザがあれば、その紐付けを解除します。",
        "削除：お客様の記録、紐付けおよび第三者提供の記録を削除し、記憶装置から物理的に消去"
        "されたことを確認してお知らせします。",
        "利用停止：すべての利用、または統計、パーソナライズもしくはマーケティングのいずれかの"
        "利用を停止します。以後、統計への算入、新たなアクセスへの訪問者IDの記録、または紐付けと"
        "マーケティングメールの送信を、それぞれ行いません。",
        "第三者提供の停止：お客様のデータのすべての利用を停止し、以後いずれの第三者提供にも"
        "含めません。",
    ),
    rights_how=(
        "ご請求は、本プライバシーポリシーに記載の窓口までお寄せください。記録の特定には、会員"
        "ID、メールアドレス、またはお使いのブラウザの{cookie}クッキーの値のいずれかが必要"
        "です。ご本人からのご請求であることを確認したうえで対応します。対応したご請求は、個人"
        "データへのその他のアクセスと同様に監査記録に記録し、{days}保存します。"
    ),
    rights_after_erasure=(
        "削除の後は、削除を行ったことの記録（対象の会員IDまたは仮名と日時）のみを残します。"
        "削除を証明し、お客様の情報が再び紐付けられないようにするためです。配信を停止された"
        "メールアドレスは、再び送信しないよう、仮名のまま配信停止の一覧に残ります。"
    ),
    parties_heading="9. 第三者への提供",
    parties_intro="当社の第三者提供の記録（{days}保存）には、次の提供先が記載されています。",
    parties_head=("提供先", "提供の目的", "提供する情報", "提供の形態"),
    parties_per_member="会員ごとの情報",
    parties_aggregate="集計した統計情報",
    parties_none="当社の第三者提供の記録に、これらの情報を第三者に提供した記載はありません。",
    parties_suspended="利用を停止されている会員の情報を提供することはありません。",
)

LANGUAGES: dict[str, Wording] = {w.lang: w for w in (ENGLISH, JAPANESE)}
"""The notice's languages, by their language tag."""
