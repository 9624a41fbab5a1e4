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
from schemas.ladder import RecommendationBatch, RecommendationReceipt
from schemas.notice import ObjectionAck, ObjectionResolution, PublicObjection
from schemas.title import Complaint, Revocation, SpotCheck


@dataclass(frozen=True)
class Act:
    name: str
    workflow: str  # "cycle", "application", "consultation", "notice" or "title"
    input: type[BaseModel]
    output: type[BaseModel]
    summary: str


ACTS: dict[str, Act] = {
    act.name: act
    for act in (
        Act(
            "extend_deadline",
            "cycle",
            DeadlineExtension,
            StageRecord,
            "延长当前环节截止时间 Extend the open stage",
        ),
        Act("record_approval", "cycle", GovernmentApproval, GovernmentApproval, "记录政府批准 Record approval"),
        Act("recommend", "cycle", RecommendationBatch, RecommendationReceipt, "向本届推荐获奖者 Recommend winners"),
        Act("decide_qualification", "application", QualificationDecision, ActReceipt, "资格筛查 Qualification"),
        Act("decide_materials", "application", MaterialDecision, ActReceipt, "材料符合性审查 Material review"),
        Act("submit_supplement", "application", SupplementSubmission, ActReceipt, "提交补充材料 Supplement"),
        Act("withdraw", "application", Withdrawal, ActReceipt, "撤回申报 Withdraw"),
        Act("submit_score", "application", ExpertScore, ActReceipt, "专家评分 Expert score"),
        Act(
            "resend_expert_link",
            "application",
            ExpertLinkResend,
            ActReceipt,
            "重发或改发专家评分链接 Re-send or move an expert's link",
        ),
        Act("record_onsite", "application", OnsiteFinding, ActReceipt, "现场评审结果 On-site finding"),
        Act("record_defence", "application", DefenceScore, ActReceipt, "陈述答辩得分 Oral defence"),
        Act("answer", "consultation", ConsultationAnswer, ActReceipt, "部门意见 Department answer"),
        Act("decide_objection", "consultation", ObjectionDecision, ActReceipt, "处理部门异议 Decide objection"),
        Act("resolve_overdue", "consultation", OverdueResolution, ActReceipt, "处理逾期 Resolve overdue"),
        Act("resend_link", "consultation", LinkResend, ActReceipt, "重发或改发链接 Re-send or move the link"),
        Act("lodge_objection", "notice", PublicObjection, ObjectionAck, "公示异议 Public objection"),
        Act("resolve_objection", "notice", ObjectionResolution, ActReceipt, "处理公示异议 Resolve objection"),
        Act("record_spot_check", "title", SpotCheck, ActReceipt, "记录称号抽查结果 Record a spot check"),
        Act("record_complaint", "title", Complaint, ActReceipt, "登记投诉举报 Record a complaint"),
        Act("revoke_title", "title", Revocation, ActReceipt, "撤销称号并公开理由 Revoke the title"),
    )
}
