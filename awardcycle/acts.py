"""The human acts: each is a Temporal Update on one kind of workflow, with one input model."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from schemas.application import (
    ActReceipt,
    DefenceScore,
    ExpertLinkResend,
    ExpertScore,
    MaterialDecision,
    OnsiteFinding,
    QualificationDecision,
    SupplementSubmission,
    Withdrawal,
)
from schemas.consultation import (
    ConsultationAnswer,
    DeadlineExtension,
    LinkResend,
    ObjectionDecision,
    OverdueResolution,
)
from schemas.cycle import GovernmentApproval, StageRecord
from schemas.identity import AccountRole
from schemas.ladder import RecommendationBatch, RecommendationReceipt
from schemas.notice import ObjectionAck, ObjectionResolution, PublicObjection
from schemas.title import Complaint, Revocation, SpotCheck

C, S, ON = AccountRole.COORDINATOR, AccountRole.SECRETARIAT, AccountRole.ONSITE


@dataclass(frozen=True)
class Act:
    name: str
    workflow: str  # "cycle", "application", "consultation", "notice" or "title"
    input: type[BaseModel]
    output: type[BaseModel]
    summary: str
    grants: tuple[AccountRole, ...]  # who may perform it with an account, the first one preferred; () links only
    on_paper: bool = False  # an account records what someone without one sent on paper


ACTS: dict[str, Act] = {
    act.name: act
    for act in (
        Act(
            "extend_deadline",
            "cycle",
            DeadlineExtension,
            StageRecord,
            "延长当前环节截止时间 Extend the open stage",
            (C,),
        ),
        Act("record_approval", "cycle", GovernmentApproval, GovernmentApproval, "记录政府批准 Record approval", (C,)),
        Act(
            "recommend", "cycle", RecommendationBatch, RecommendationReceipt, "向本届推荐获奖者 Recommend winners", (C,)
        ),
        Act("decide_qualification", "application", QualificationDecision, ActReceipt, "资格筛查 Qualification", (S, C)),
        Act("decide_materials", "application", MaterialDecision, ActReceipt, "材料符合性审查 Material review", (S, C)),
        Act(
            "submit_supplement", "application", SupplementSubmission, ActReceipt, "提交补充材料 Supplement", (C,), True
        ),
        Act("withdraw", "application", Withdrawal, ActReceipt, "撤回申报 Withdraw", (C,), True),
        Act("submit_score", "application", ExpertScore, ActReceipt, "专家评分 Expert score (through the link)", ()),
        Act(
            "resend_expert_link",
            "application",
            ExpertLinkResend,
            ActReceipt,
            "重发或改发专家评分链接 Re-send or move an expert's link",
            (C, S),
        ),
        Act("record_onsite", "application", OnsiteFinding, ActReceipt, "现场评审结果 On-site finding", (ON,)),
        Act("record_defence", "application", DefenceScore, ActReceipt, "陈述答辩得分 Oral defence", (C,)),
        Act(
            "answer",
            "consultation",
            ConsultationAnswer,
            ActReceipt,
            "记录书面部门意见 Record a paper answer",
            (C,),
            True,
        ),
        Act("decide_objection", "consultation", ObjectionDecision, ActReceipt, "处理部门异议 Decide objection", (C,)),
        Act("resolve_overdue", "consultation", OverdueResolution, ActReceipt, "处理逾期 Resolve overdue", (C,)),
        Act("resend_link", "consultation", LinkResend, ActReceipt, "重发或改发链接 Re-send or move the link", (C,)),
        Act(
            "lodge_objection",
            "notice",
            PublicObjection,
            ObjectionAck,
            "登记书面公示异议 Record an objection",
            (C,),
            True,
        ),
        Act("resolve_objection", "notice", ObjectionResolution, ActReceipt, "处理公示异议 Resolve objection", (C,)),
        Act("record_spot_check", "title", SpotCheck, ActReceipt, "记录称号抽查结果 Record a spot check", (S, C)),
        Act("record_complaint", "title", Complaint, ActReceipt, "登记投诉举报 Record a complaint", (C, S)),
        Act("revoke_title", "title", Revocation, ActReceipt, "撤销称号并公开理由 Revoke the title", (C,)),
    )
}
