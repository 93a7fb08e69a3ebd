"""The State Council notice reader: past years' notices against the ``holidays`` package, and
every contradiction named with the item it is in."""

from __future__ import annotations

from datetime import date, timedelta

import holidays
import pytest

from bot.domain.holiday_notice import NoticeProblem, parse_notice
from tests.notices import NOTICE_2027, NOTICES, _notice


def _package(year: int) -> tuple[set[date], set[date]]:
    """The package's weekday days off and make-up working days from 1 December of the year
    before to the end of ``year`` (a notice may begin its New Year holiday in December)."""
    cn = holidays.China(years=[year - 1, year])  # type: ignore[attr-defined]
    start, end = date(year - 1, 12, 1), date(year, 12, 31)
    off = {d for d in cn if start <= d <= end and d.weekday() < 5}
    on = {d for d in cn.weekend_workdays if start <= d <= end}
    return off, on


@pytest.mark.parametrize("year", sorted(NOTICES))
def test_a_past_notice_reads_as_the_package_has_that_year(year: int) -> None:
    notice = parse_notice(NOTICES[year])
    assert notice.year == year
    off, on = _package(year)
    assert notice.workdays == on
    assert {d for d in notice.days_off if d.weekday() < 5} == off
    # Day by day over the year (and the December before), working or not, as the package.
    cn = holidays.China(years=[year - 1, year])  # type: ignore[attr-defined]
    day = date(year - 1, 12, 1)
    while day <= date(year, 12, 31):
        package_works = day in cn.weekend_workdays or (day.weekday() < 5 and day not in cn)
        ours = day in notice.workdays or (day.weekday() < 5 and day not in notice.days_off)
        assert ours == package_works, day
        day += timedelta(days=1)


def test_the_items_are_read_with_their_names_and_ranges() -> None:
    notice = parse_notice(NOTICES[2025])
    spring = notice.holidays[1]
    assert spring.names == ("春节",)
    assert (spring.first, spring.last) == (date(2025, 1, 28), date(2025, 2, 4))
    autumn = notice.holidays[-1]
    assert autumn.names == ("国庆节", "中秋节")
    assert len(autumn.days) == 8
    assert notice.months()[:2] == [(2025, 1), (2025, 2)]


def test_a_new_year_from_the_previous_december_keeps_its_days_there() -> None:
    notice = parse_notice(NOTICES[2019])
    assert date(2018, 12, 29) in notice.workdays
    assert {date(2018, 12, 30), date(2018, 12, 31), date(2019, 1, 1)} <= notice.days_off
    assert notice.months()[0] == (2018, 12)


def test_a_remark_s_date_is_not_a_day_off() -> None:
    """2024: 「安排职工在除夕（2月9日）休息」 encourages; 9 February stays a working day."""
    notice = parse_notice(NOTICES[2024])
    assert date(2024, 2, 9) not in notice.days_off


def test_a_notice_without_its_title_or_line_breaks_still_reads() -> None:
    body = NOTICES[2026].split("\n", 2)[2].replace("\n", "")
    notice = parse_notice(body)
    assert notice.year == 2026
    assert len(notice.holidays) == 7


def test_the_2027_test_notice_reads() -> None:
    notice = parse_notice(NOTICE_2027)
    assert notice.year == 2027
    assert date(2027, 2, 20) in notice.workdays
    assert date(2027, 2, 12) in notice.days_off


def _problem(text: str) -> NoticeProblem:
    with pytest.raises(NoticeProblem) as caught:
        parse_notice(text)
    return caught.value


def test_a_count_that_does_not_match_its_range_is_named_with_its_line() -> None:
    text = NOTICES[2025].replace("放假调休，共8天。1月26日", "放假调休，共9天。1月26日")
    problem = _problem(text)
    assert problem.code == "notice_count"
    assert problem.params["said"] == 9 and problem.params["counted"] == 8
    assert problem.line.startswith("二、春节：1月28日（农历除夕、周二）")


def test_a_make_up_day_on_a_weekday_is_refused() -> None:
    text = NOTICES[2025].replace("4月27日（周日）上班", "4月28日（周一）上班")
    problem = _problem(text)
    assert problem.code == "notice_workday_not_weekend"
    assert problem.params["day"] == date(2025, 4, 28)
    assert problem.line.startswith("四、劳动节")


def test_a_weekday_that_does_not_match_its_date_is_refused() -> None:
    text = NOTICES[2025].replace("5月31日（周六）", "5月31日（周五）")
    problem = _problem(text)
    assert problem.code == "notice_weekday"
    assert problem.line.startswith("五、端午节")


def test_a_notice_without_a_year_is_refused() -> None:
    body = NOTICES[2025].split("\n", 3)[3].replace("现将2025年", "现将")
    assert _problem(body).code == "notice_no_year"


def test_a_date_outside_the_year_is_refused() -> None:
    text = NOTICES[2025].replace("10月1日（周三）至8日", "2026年10月1日（周四）至8日")
    problem = _problem(text)
    assert problem.code == "notice_outside_year"
    assert problem.line.startswith("六、国庆节、中秋节")


def test_a_holiday_that_is_not_one_of_the_seven_is_refused() -> None:
    problem = _problem(NOTICES[2025].replace("三、清明节", "三、寒食节"))
    assert problem.code == "notice_unknown_holiday"
    assert problem.params["name"] == "寒食节"


def test_a_notice_cut_short_says_which_holidays_are_missing() -> None:
    text = NOTICES[2026].split("五、端午节")[0]
    problem = _problem(text)
    assert problem.code == "notice_incomplete"
    assert problem.params["missing"] == "端午节、中秋节、国庆节"


def test_a_clause_with_a_date_it_cannot_read_is_refused() -> None:
    problem = _problem(NOTICES[2025].replace("1月1日（周三）放假1天", "1月1日（周三）起休息"))
    assert problem.code == "notice_unreadable"
    assert problem.line.startswith("一、元旦")


def test_a_day_both_off_and_on_is_refused() -> None:
    text = NOTICES[2025].replace("2月8日（周六）上班", "2月1日（周六）上班")
    problem = _problem(text)
    assert problem.code == "notice_day_both"
    assert problem.line.startswith("二、春节")


def test_a_date_that_does_not_exist_is_refused() -> None:
    text = NOTICES[2025].replace("4月4日（周五）至6日", "4月31日至6日")
    assert _problem(text).code == "notice_no_such_date"


def test_text_that_is_no_notice_is_refused() -> None:
    assert _problem("你好").code == "notice_no_year"
    assert _problem("关于2027年部分节假日安排的通知").code == "notice_no_items"
    assert _problem(" \n ").code == "notice_empty"


# The State Council's notice for 2011, in its own words: holidays that only join a weekend
# are 「放假公休」 (2008–2011 notices), not 「放假调休」 or 「放假」.
NOTICE_2011 = _notice(
    2011,
    """
一、元旦：1月1日至3日放假公休，共3天。
二、春节：2月2日至8日放假调休，共7天。1月30日（星期日）、2月12日（星期六）上班。
三、清明节：4月3日至5日放假调休，共3天。4月2日（星期六）上班。
四、劳动节：4月30日至5月2日放假公休，共3天。
五、端午节：6月4日至6日放假公休，共3天。
六、中秋节：9月10日至12日放假公休，共3天。
七、国庆节：10月1日至7日放假调休，共7天。10月8日（星期六）、10月9日（星期日）上班。
""",
    no=40,
    month=12,
    day=7,
)


def test_the_2011_notice_s_fang_jia_gong_xiu_is_read() -> None:
    """A past year's notice as the package has that year (real notices' variations are read).
    31 December 2011 is the 2012 notice's make-up day, not this one's."""
    notice = parse_notice(NOTICE_2011)
    cn = holidays.China(years=2011)  # type: ignore[attr-defined]
    on = {d for d in cn.weekend_workdays if d.year == 2011} - {date(2011, 12, 31)}
    assert notice.workdays == on
    assert {h.first for h in notice.holidays if h.names == ("元旦",)} == {date(2011, 1, 1)}
    day = date(2011, 1, 1)
    while day <= date(2011, 12, 31):
        package_works = day in on or (day.weekday() < 5 and day not in cn)
        ours = day in notice.workdays or (day.weekday() < 5 and day not in notice.days_off)
        assert ours == package_works, day
        day += timedelta(days=1)
