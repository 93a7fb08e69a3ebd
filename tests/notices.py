"""Notice-form texts (国务院办公厅关于YYYY年部分节假日安排的通知) for the parser's tests.

Composed for these tests in the notices' standard sentence patterns, each with the dates the
``holidays`` package has for that year (its China calendar, official schedule), and with the
variations real notices use: 星期 or 周 in remarks, 农历 remarks, 共N天 or 放假N天 or
与周末连休, ranges across months and across the year (a New Year holiday from the previous
December, with its make-up day there), two holidays in one item, full-width and half-width
digits, line breaks or none. 2020 gives the Spring Festival as the package has it: the days
off as extended by the State Council in January 2020 (to 2 February), without the 1 February
make-up day that the extension cancelled.
"""

from __future__ import annotations

_OPENING = (
    "国务院办公厅关于{year}年部分节假日安排的通知\n"
    "国办发明电〔{prev}〕{no}号\n\n"
    "各省、自治区、直辖市人民政府，国务院各部委、各直属机构：\n"
    "经国务院批准，现将{year}年元旦、春节、清明节、劳动节、端午节、中秋节和国庆节放假调休"
    "日期的具体安排通知如下。\n"
)
_CLOSING = (
    "\n节假日期间，各地区、各部门要妥善安排好值班和安全、保卫等工作，遇有重大突发事件，"
    "要按规定及时报告并妥善处置，确保人民群众祥和平安度过节日假期。\n\n"
    "国务院办公厅\n{prev}年{month}月{day}日\n"
)


def _notice(year: int, items: str, no: int = 7, month: int = 11, day: int = 12) -> str:
    prev = year - 1
    opening = _OPENING.format(year=year, prev=prev, no=no)
    return opening + items.strip("\n") + _CLOSING.format(prev=prev, month=month, day=day)


NOTICES: dict[int, str] = {
    # A New Year holiday from the previous December, its make-up day there too.
    2019: _notice(
        2019,
        """
一、元旦：2018年12月30日至2019年1月1日放假调休，共3天。2018年12月29日（星期六）上班。
二、春节：2月4日至10日放假调休，共7天。2月2日（星期六）、2月3日（星期日）上班。
三、清明节：4月5日放假，与周末连休。
四、劳动节：5月1日至4日放假调休，共4天。4月28日（星期日）、5月5日（星期日）上班。
五、端午节：6月7日放假，与周末连休。
六、中秋节：9月13日放假，与周末连休。
七、国庆节：10月1日至7日放假调休，共7天。9月29日（星期日）、10月12日（星期六）上班。
""",
        no=15,
        month=12,
        day=6,
    ),
    # Two holidays in one item; a Spring Festival across two months.
    2020: _notice(
        2020,
        """
一、元旦：2020年1月1日放假，共1天。
二、春节：1月24日至2月2日放假调休，共10天。1月19日（星期日）上班。
三、清明节：4月4日至6日放假调休，共3天。
四、劳动节：5月1日至5日放假调休，共5天。4月26日（星期日）、5月9日（星期六）上班。
五、端午节：6月25日至27日放假调休，共3天。6月28日（星期日）上班。
六、国庆节、中秋节：10月1日至8日放假调休，共8天。9月27日（星期日）、10月10日（星期六）上班。
""",
        no=16,
        month=11,
        day=21,
    ),
    # Full-width digits, as some copies have them.
    2021: _notice(
        2021,
        """
一、元旦：２０２１年１月１日至３日放假，共３天。
二、春节：２月１１日至１７日放假调休，共７天。２月７日（星期日）、２月２０日（星期六）上班。
三、清明节：４月３日至５日放假调休，共３天。
四、劳动节：５月１日至５日放假调休，共５天。４月２５日（星期日）、５月８日（星期六）上班。
五、端午节：６月１２日至１４日放假，共３天。
六、中秋节：９月１９日至２１日放假调休，共３天。９月１８日（星期六）上班。
七、国庆节：１０月１日至７日放假调休，共７天。９月２６日（星期日）、１０月９日（星期六）上班。
""",
        no=27,
        month=11,
        day=25,
    ),
    # Half-width punctuation, all on one line.
    2022: _notice(
        2022,
        "一、元旦:2022年1月1日至3日放假,共3天。"
        "二、春节:1月31日至2月6日放假调休,共7天。1月29日(星期六)、1月30日(星期日)上班。"
        "三、清明节:4月3日至5日放假调休,共3天。4月2日(星期六)上班。"
        "四、劳动节:4月30日至5月4日放假调休,共5天。4月24日(星期日)、5月7日(星期六)上班。"
        "五、端午节:6月3日至5日放假,共3天。"
        "六、中秋节:9月10日至12日放假,共3天。"
        "七、国庆节:10月1日至7日放假调休,共7天。10月8日(星期六)、10月9日(星期日)上班。",
        no=29,
        month=12,
        day=6,
    ),
    # A New Year holiday that starts on the last day of the previous year.
    2023: _notice(
        2023,
        """
一、元旦：2022年12月31日至2023年1月2日放假调休，共3天。
二、春节：1月21日至27日放假调休，共7天。1月28日（星期六）、1月29日（星期日）上班。
三、清明节：4月5日放假，共1天。
四、劳动节：4月29日至5月3日放假调休，共5天。4月23日（星期日）、5月6日（星期六）上班。
五、端午节：6月22日至24日放假调休，共3天。6月25日（星期日）上班。
六、中秋节、国庆节：9月29日至10月6日放假调休，共8天。10月7日（星期六）、10月8日（星期日）上班。
""",
        no=30,
        month=12,
        day=8,
    ),
    # New Year's Eve (除夕) in a remark is a working day, not a day off.
    2024: _notice(
        2024,
        """
一、元旦：1月1日放假，与周末连休。
二、春节：2月10日至17日放假调休，共8天。2月4日（星期日）、2月18日（星期日）上班。鼓励各单位结合带薪年休假等制度落实，安排职工在除夕（2月9日）休息。
三、清明节：4月4日至6日放假调休，共3天。4月7日（星期日）上班。
四、劳动节：5月1日至5日放假调休，共5天。4月28日（星期日）、5月11日（星期六）上班。
五、端午节：6月10日放假，与周末连休。
六、中秋节：9月15日至17日放假调休，共3天。9月14日（星期六）上班。
七、国庆节：10月1日至7日放假调休，共7天。9月29日（星期日）、10月12日（星期六）上班。
""",
        no=7,
        month=10,
        day=25,
    ),
    # The newer style: 周 in remarks, 农历 remarks, 放假1天, 不调休.
    2025: _notice(
        2025,
        """
一、元旦：1月1日（周三）放假1天，不调休。
二、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共8天。1月26日（周日）、2月8日（周六）上班。
三、清明节：4月4日（周五）至6日（周日）放假，共3天。
四、劳动节：5月1日（周四）至5日（周一）放假调休，共5天。4月27日（周日）上班。
五、端午节：5月31日（周六）至6月2日（周一）放假，共3天。
六、国庆节、中秋节：10月1日（周三）至8日（周三）放假调休，共8天。9月28日（周日）、10月11日（周六）上班。
""",
        no=12,
        month=11,
        day=12,
    ),
    2026: _notice(
        2026,
        """
一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。1月4日（周日）上班。
二、春节：2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）放假调休，共9天。2月14日（周六）、2月28日（周六）上班。
三、清明节：4月4日（周六）至6日（周一）放假，共3天。
四、劳动节：5月1日（周五）至5日（周二）放假调休，共5天。5月9日（周六）上班。
五、端午节：6月19日（周五）至21日（周日）放假，共3天。
六、中秋节：9月25日（周五）至27日（周日）放假，共3天。
七、国庆节：10月1日（周四）至7日（周三）放假调休，共7天。9月20日（周日）、10月10日（周六）上班。
""",
        no=7,
        month=11,
        day=4,
    ),
}

# Test data, not a real notice: 2027's arrangements were not published when this was written.
# The dates follow the usual pattern around 2027's festivals (Spring Festival on 6 February).
NOTICE_2027 = _notice(
    2027,
    """
一、元旦：1月1日（周五）至3日（周日）放假，共3天。
二、春节：2月5日（农历除夕、周五）至2月12日（农历正月初七、周五）放假调休，共8天。2月14日（周日）、2月20日（周六）上班。
三、清明节：4月3日（周六）至5日（周一）放假，共3天。
四、劳动节：5月1日（周六）至5日（周三）放假调休，共5天。4月25日（周日）、5月8日（周六）上班。
五、端午节：6月9日（周三）放假1天，不调休。
六、中秋节：9月15日（周三）放假1天，不调休。
七、国庆节：10月1日（周五）至7日（周四）放假调休，共7天。9月26日（周日）、10月9日（周六）上班。
""",
    no=9,
    month=11,
    day=20,
)
