"""The wording a new notice starts from: the referential's rules in plain French and English.

The DPO reviews and edits every value before publishing. The controller's own details (address,
DPO contact, establishment in the EU, transfers) are left empty on purpose: publication stays
blocked until someone who knows them fills them in.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from portal.notices.catalog import Audience, Slot, SlotKind, slots_for

log = logging.getLogger(__name__)


def _b(fr: str, en: str) -> dict[str, str]:
    return {"fr": fr, "en": en}


SHARED: dict[str, Any] = {
    "purposes": _b(
        "Permettre la mise à disposition du médicament dans le cadre de l'autorisation d'accès "
        "compassionnel, puis le suivi des patients traités : recueillir, enregistrer, analyser, "
        "documenter, transmettre et conserver les données relatives à l'accès au traitement, à "
        "son initiation, à son suivi et à son arrêt.\n\n"
        "Gérer les échanges avec les professionnels de santé qui suivent les patients et avec "
        "les personnes qui agissent sous leur responsabilité.\n\n"
        "Établir les rapports de synthèse périodiques adressés à l'Agence nationale de sécurité "
        "du médicament et des produits de santé (ANSM), qui évalue le médicament.",
        "To make the medicine available under the compassionate access authorization, then to "
        "follow up the patients treated: collecting, recording, analysing, documenting, "
        "sending and keeping the data on access to the treatment, its start, its follow-up and "
        "its end.\n\n"
        "To manage the exchanges with the healthcare professionals who follow the patients and "
        "with the people acting under their responsibility.\n\n"
        "To write the periodic summary reports sent to the French medicines agency (ANSM), "
        "which evaluates the medicine.",
    ),
    "legal_bases": _b(
        "Le traitement est nécessaire au respect d'une obligation légale du laboratoire "
        "(article 6.1.c du RGPD) : les articles L. 5121-12-1 et R. 5121-74 et suivants du code "
        "de la santé publique imposent ce recueil de données.\n\n"
        "Les données de santé sont traitées pour des motifs d'intérêt public dans le domaine de "
        "la santé publique, afin de garantir des normes élevées de qualité et de sécurité des "
        "soins et des médicaments (article 9.2.i du RGPD et article 66 de la loi Informatique "
        "et Libertés).",
        "The processing is needed to comply with a legal obligation of the laboratory "
        "(article 6(1)(c) of the GDPR): articles L. 5121-12-1 and R. 5121-74 and following of "
        "the French public health code require this data collection.\n\n"
        "Health data are processed for reasons of public interest in the area of public "
        "health, to ensure high standards of quality and safety of health care and of "
        "medicines (article 9(2)(i) of the GDPR and article 66 of the French data protection "
        "act).",
    ),
    "recipients": _b(
        "- les personnes habilitées du laboratoire, chacune dans la limite de ses attributions : "
        "le pharmacien responsable et les personnes placées sous sa responsabilité, le service "
        "de pharmacovigilance, les services des affaires médicales et réglementaires, le "
        "service chargé des commandes et de l'approvisionnement (sans accès aux données de "
        "santé) et, ponctuellement, le service d'audit ;\n"
        "- les prestataires du laboratoire qui agissent pour son compte, dont l'hébergeur du "
        "portail, certifié hébergeur de données de santé (HDS) ;\n"
        "- l'ANSM, les centres régionaux de pharmacovigilance et les centres antipoison, dans "
        "le cadre de leurs missions ;\n"
        "- les professionnels de santé qui participent à la prise en charge du patient.",
        "- the laboratory's authorised staff, each within the limits of their duties: the "
        "pharmacist in charge and the people under their responsibility, the pharmacovigilance "
        "unit, the medical and regulatory affairs departments, the orders and supply "
        "department (without access to health data) and, occasionally, the audit department;\n"
        "- the service providers acting on behalf of the laboratory, including the host of the "
        "portal, certified as a health data host (HDS);\n"
        "- the ANSM, the regional pharmacovigilance centres and the poison control centres, "
        "within their missions;\n"
        "- the healthcare professionals involved in the patient's care.",
    ),
    "transfer_copy": _b(
        "Vous pouvez obtenir une copie des garanties qui encadrent ces transferts en écrivant au "
        "délégué à la protection des données.",
        "You can obtain a copy of the safeguards covering these transfers by writing to the "
        "data protection officer.",
    ),
    "rights": _b(
        "Vous pouvez accéder à vos données, faire rectifier celles qui sont inexactes et "
        "demander la limitation de leur traitement (par exemple, si vous contestez l'exactitude "
        "d'une donnée, vous pouvez demander qu'elle soit gelée le temps de la vérifier).",
        "You can access your data, have inaccurate data corrected and ask for the processing "
        "to be limited (for example, if you dispute the accuracy of a piece of data, you can "
        "ask for it to be frozen while it is checked).",
    ),
    "rights_not_applicable": _b(
        "Ce traitement repose sur une obligation légale et poursuit un objectif d'intérêt "
        "public dans le domaine de la santé publique. C'est pourquoi le droit d'opposition, le "
        "droit à l'effacement et le droit à la portabilité des données ne s'appliquent pas.",
        "This processing rests on a legal obligation and pursues an objective of public "
        "interest in the area of public health. This is why the right to object, the right to "
        "erasure and the right to data portability do not apply.",
    ),
    "complaint": "CNIL, 3 place de Fontenoy, TSA 80715, 75334 Paris Cedex 07 — "
                 "https://www.cnil.fr/fr/plaintes",
    "post_mortem": _b(
        "Vous pouvez donner des directives sur la conservation, l'effacement et la "
        "communication de vos données après votre décès (article 85 de la loi Informatique et "
        "Libertés). Ces directives peuvent être générales, enregistrées auprès d'un tiers de "
        "confiance numérique certifié par la CNIL, ou particulières, adressées au délégué à la "
        "protection des données du laboratoire.",
        "You can give instructions on how your data are kept, erased and communicated after "
        "your death (article 85 of the French data protection act). These instructions can be "
        "general, registered with a trusted digital third party certified by the CNIL, or "
        "specific, sent to the laboratory's data protection officer.",
    ),
    "automated_decisions": _b(
        "Aucune décision automatisée, profilage compris, n'est prise à votre sujet à partir de "
        "ces données.",
        "No automated decision, profiling included, is made about you from these data.",
    ),
}

_HCP_CATEGORIES = _b(
    "- vos nom, prénom, fonction ou spécialité et, pour les professionnels de santé, votre "
    "numéro RPPS ;\n"
    "- vos coordonnées professionnelles (adresse électronique, téléphone, établissement) ;\n"
    "- les données de votre compte et la trace de vos connexions et de vos actions sur le "
    "portail ;\n"
    "- la mention des formulaires que vous avez remplis ou validés.",
    "- your surname, first name, job or specialty and, for healthcare professionals, your "
    "RPPS number;\n"
    "- your professional contact details (e-mail address, telephone, establishment);\n"
    "- your account data and the record of your logins and actions on the portal;\n"
    "- which forms you filled in or validated.",
)
_HCP_EXERCISE = _b(
    "Vous exercez vos droits directement auprès du délégué à la protection des données du "
    "laboratoire, dont les coordonnées figurent ci-dessus.",
    "You exercise your rights directly with the laboratory's data protection officer, whose "
    "contact details are given above.",
)
_HCP_PROVISION = _b(
    "Les professionnels de santé qui prescrivent, délivrent ou administrent le médicament dans "
    "le cadre de l'accès compassionnel sont tenus de participer au recueil des données (article "
    "R. 5121-74-5 du code de la santé publique). Les données de votre compte sont nécessaires "
    "pour utiliser le portail.",
    "Healthcare professionals who prescribe, dispense or administer the medicine under the "
    "compassionate access are required to take part in the data collection (article "
    "R. 5121-74-5 of the French public health code). Your account data are needed to use the "
    "portal.",
)

SPECIFIC: dict[Audience, dict[str, Any]] = {
    Audience.PATIENT: {
        "data_categories": _b(
            "- un code d'identification attribué par le portail et, le cas échéant, les trois "
            "premières lettres de votre nom et les deux premières lettres de votre prénom. Le "
            "laboratoire ne reçoit ni votre nom, ni votre adresse, ni votre numéro de sécurité "
            "sociale (NIR), ni votre identifiant national de santé (INS) ;\n"
            "- des informations générales : sexe, âge ou mois et année de naissance, poids, "
            "taille ;\n"
            "- des données de santé : histoire de la maladie, antécédents, maladies ou "
            "événements associés ;\n"
            "- les conditions d'utilisation du médicament : traitements associés, "
            "prescription, délivrance ;\n"
            "- l'efficacité du médicament et les effets indésirables observés.",
            "- an identification code given by the portal and, where needed, the first three "
            "letters of your surname and the first two letters of your first name. The "
            "laboratory never receives your name, your address, your social security number "
            "(NIR) or your national health identifier (INS);\n"
            "- general information: sex, age or month and year of birth, weight, height;\n"
            "- health data: history of the disease, past illnesses, associated diseases or "
            "events;\n"
            "- how the medicine is used: other treatments, prescription, dispensing;\n"
            "- how well the medicine works and the side effects observed.",
        ),
        "data_source": _b(
            "Vos données sont transmises au laboratoire par votre médecin prescripteur, par le "
            "pharmacien de l'établissement qui vous délivre le médicament ou par les "
            "professionnels de santé qui participent à votre suivi. Aucune donnée ne provient "
            "d'une source accessible au public.",
            "Your data are sent to the laboratory by the doctor who prescribes the medicine, "
            "by the hospital pharmacist who dispenses it or by the healthcare professionals who "
            "take part in your follow-up. No data come from a publicly accessible source.",
        ),
        "rights_exercise": _b(
            "Vous pouvez exercer vos droits à tout moment auprès du professionnel de santé qui "
            "vous suit ou par l'intermédiaire du médecin de votre choix. Le laboratoire ne "
            "connaît pas votre identité : passer par un médecin permet de retrouver vos données "
            "sans la lui révéler.\n\n"
            "Vous pouvez aussi vous adresser directement au délégué à la protection des données "
            "du laboratoire. Il vous demandera alors le nom de votre médecin ou de votre "
            "établissement : le laboratoire connaîtra votre identité, ce qui réduit la "
            "confidentialité de vos données.\n\n"
            "La personne de confiance que vous avez désignée peut vous accompagner dans ces "
            "démarches (article L. 1111-6 du code de la santé publique).",
            "You can exercise your rights at any time with the healthcare professional who "
            "follows you, or through the doctor of your choice. The laboratory does not know "
            "who you are: going through a doctor lets your data be found without revealing "
            "your identity to it.\n\n"
            "You can also write directly to the laboratory's data protection officer. You will "
            "then be asked for the name of your doctor or hospital: the laboratory will learn "
            "who you are, which makes your data less confidential.\n\n"
            "The trusted person you have appointed can help you with these steps (article "
            "L. 1111-6 of the French public health code).",
        ),
        "provision_requirement": _b(
            "Si vous acceptez le traitement, le code de la santé publique impose le recueil de "
            "ces données : c'est une condition de l'accès compassionnel au médicament. Vous "
            "restez libre d'accepter ou de refuser le traitement.",
            "If you accept the treatment, the French public health code requires these data to "
            "be collected: it is a condition of compassionate access to the medicine. You "
            "remain free to accept or refuse the treatment.",
        ),
    },
    Audience.RELATIVE: {
        "data_categories": _b(
            "- un code d'identification et votre lien avec le patient (par exemple conjoint, "
            "partenaire ou enfant), et selon le cas votre sexe et votre âge ;\n"
            "- les données de santé nécessaires pour décrire l'effet du médicament sur vous "
            "(par exemple le déroulement d'une grossesse) : efficacité et effets indésirables.",
            "- an identification code and how you are related to the patient (for example "
            "spouse, partner or child), and where needed your sex and age;\n"
            "- the health data needed to describe how the medicine affected you (for example "
            "the course of a pregnancy): efficacy and side effects.",
        ),
        "data_source": _b(
            "Vos données sont transmises au laboratoire par le professionnel de santé qui suit "
            "le patient ou qui vous a pris(e) en charge. Aucune donnée ne provient d'une source "
            "accessible au public.",
            "Your data are sent to the laboratory by the healthcare professional who follows "
            "the patient or who took care of you. No data come from a publicly accessible "
            "source.",
        ),
        "rights_exercise": _b(
            "Vous pouvez exercer vos droits auprès du professionnel de santé qui a recueilli vos "
            "données ou directement auprès du délégué à la protection des données du "
            "laboratoire.\n\n"
            "Vos droits s'exercent dans le respect du secret médical : si répondre à votre "
            "demande obligeait le laboratoire à vous révéler des informations confidentielles "
            "sur le patient, il vous en informerait et ne pourrait pas y donner suite.",
            "You can exercise your rights with the healthcare professional who collected your "
            "data or directly with the laboratory's data protection officer.\n\n"
            "Your rights are exercised within medical confidentiality: if answering your "
            "request meant revealing confidential information about the patient, the "
            "laboratory would tell you so and could not act on it.",
        ),
    },
    Audience.PROFESSIONAL: {
        "data_categories": _HCP_CATEGORIES,
        "rights_exercise": _HCP_EXERCISE,
        "provision_requirement": _HCP_PROVISION,
    },
    Audience.TRANSPARENCY: {
        "data_categories": _HCP_CATEGORIES,
        "rights_exercise": _HCP_EXERCISE,
        "provision_requirement": _HCP_PROVISION,
    },
    Audience.WEBSITE: {
        "data_categories": _b(
            "- pour les patients : un code d'identification et, le cas échéant, les initiales "
            "(trois lettres du nom, deux du prénom), des informations générales (sexe, âge, "
            "poids, taille), des données de santé, les conditions d'utilisation du médicament, "
            "son efficacité et ses effets indésirables. Jamais le nom, l'adresse, le NIR ou "
            "l'INS ;\n"
            "- pour les proches concernés par la prise du médicament : un code, le lien avec le "
            "patient et les données de santé qui décrivent l'effet du médicament ;\n"
            "- pour les professionnels de santé : nom, prénom, spécialité, numéro RPPS, "
            "coordonnées professionnelles et trace de leurs actions sur le portail.",
            "- for patients: an identification code and, where needed, initials (three letters "
            "of the surname, two of the first name), general information (sex, age, weight, "
            "height), health data, how the medicine is used, how well it works and its side "
            "effects. Never the name, address, NIR or INS;\n"
            "- for relatives affected by the medicine: a code, how they are related to the "
            "patient and the health data describing the medicine's effect;\n"
            "- for healthcare professionals: surname, first name, specialty, RPPS number, "
            "professional contact details and the record of their actions on the portal.",
        ),
        "data_source": _b(
            "Les données des patients et de leurs proches sont transmises par les professionnels "
            "de santé qui les suivent (médecin prescripteur, pharmacien de l'établissement). "
            "Celles des professionnels de santé sont recueillies auprès d'eux. Aucune donnée ne "
            "provient d'une source accessible au public.",
            "The data of patients and their relatives are sent by the healthcare professionals "
            "who follow them (the prescribing doctor, the hospital pharmacist). Those of "
            "healthcare professionals are collected from them. No data come from a publicly "
            "accessible source.",
        ),
        "rights_exercise": _b(
            "Les patients exercent leurs droits auprès du professionnel de santé qui les suit, "
            "par l'intermédiaire du médecin de leur choix, ou directement auprès du délégué à la "
            "protection des données (le laboratoire connaîtra alors leur identité). Ils peuvent "
            "être accompagnés par leur personne de confiance.\n\n"
            "Les proches exercent leurs droits auprès du professionnel de santé ou du délégué à "
            "la protection des données, dans le respect du secret médical.\n\n"
            "Les professionnels de santé exercent leurs droits directement auprès du délégué à "
            "la protection des données.",
            "Patients exercise their rights with the healthcare professional who follows them, "
            "through the doctor of their choice, or directly with the data protection officer "
            "(the laboratory will then learn who they are). Their trusted person can help "
            "them.\n\n"
            "Relatives exercise their rights with the healthcare professional or the data "
            "protection officer, within medical confidentiality.\n\n"
            "Healthcare professionals exercise their rights directly with the data protection "
            "officer.",
        ),
        "provision_requirement": _b(
            "Le recueil de ces données est imposé par le code de la santé publique : il est une "
            "condition de l'accès compassionnel au médicament pour les patients, et une "
            "obligation pour les professionnels de santé qui le prescrivent ou le délivrent.",
            "This data collection is required by the French public health code: it is a "
            "condition of compassionate access to the medicine for patients, and an obligation "
            "for the healthcare professionals who prescribe or dispense it.",
        ),
    },
}


def retention_text(app: Flask) -> dict[str, str]:
    """Return the retention periods of section 9 of the referential, in plain words."""
    active = int(app.config.get("RETENTION_ACTIVE_YEARS", 2))
    archive = int(app.config.get("RETENTION_ARCHIVE_YEARS", 70))
    return _b(
        f"Les données restent dans la base de suivi jusqu'à {active} ans après l'approbation "
        "par l'ANSM du résumé du dernier rapport de synthèse. Elles sont ensuite archivées, avec "
        "un accès restreint, pendant la durée de l'autorisation d'accès compassionnel, puis au "
        f"plus {archive} ans après sa fin (expiration, suspension ou retrait). Au terme de ces "
        "durées, elles sont supprimées ou rendues anonymes.",
        f"The data stay in the follow-up database until {active} years after the ANSM approves "
        "the summary of the last periodic report. They are then archived, with restricted "
        "access, for as long as the compassionate access authorization lasts, and at most "
        f"{archive} years after it ends (expiry, suspension or withdrawal). After that, they are "
        "deleted or made anonymous.",
    )


def protocol_facts(app: Flask, session: Any = None) -> dict[str, Any]:
    """Return the product and indication slots from the installed protocol, if any.

    The protocol version in force comes first; outside production, the demo definition in
    forms/ stands in until a protocol is installed. Anything missing leaves the slots empty.
    """
    definition = _installed_definition(session) if session is not None else None
    if definition is None and app.config.get("ENV") != "production":
        definition = _demo_definition()
    if definition is None:
        return {}
    product = definition.product
    name = product.name + (f" ({product.inn})" if product.inn else "")
    labels = [indication.label for indication in definition.indications]
    return {
        "product": name,
        "indication": _b(" ; ".join(label.fr for label in labels),
                         "; ".join(label.en for label in labels)),
    }


def _installed_definition(session: Any) -> Any:
    """The definition of the protocol version in force, or None."""
    try:
        from portal.protocols import services as protocol_services
    except ImportError:
        return None
    try:
        version = protocol_services.current_version(session)
        return protocol_services.loaded(version).definition if version is not None else None
    except Exception:  # noqa: BLE001 - a protocol problem must not stop a notice draft
        log.exception("the installed protocol could not be read for the notice slots")
        return None


def _demo_definition() -> Any:
    from portal.config import PROJECT_ROOT

    path = PROJECT_ROOT / "forms" / "put-sp-demo.yaml"
    if not path.exists():
        return None
    try:
        from portal.protocols.loader import load_path

        return load_path(path).definition
    except Exception:  # noqa: BLE001 - a broken demo file leaves the slots to the DPO
        log.exception("the demo protocol could not be read for the notice slots")
        return None


def empty_value(slot: Slot) -> Any:
    """Return the stored form of an empty slot."""
    if slot.kind == SlotKind.BILINGUAL:
        return {"fr": "", "en": ""}
    if slot.kind == SlotKind.TRANSFERS:
        return []
    return ""


def initial_slots(app: Flask, audience: Audience, session: Any = None) -> dict[str, Any]:
    """Return the values a first draft for `audience` starts from."""
    values: dict[str, Any] = {slot.key: empty_value(slot) for slot in slots_for(audience)}
    known: dict[str, Any] = {**SHARED, **SPECIFIC.get(audience, {})}
    known["controller_name"] = app.config["CONTROLLER_NAME"]
    known["retention"] = retention_text(app)
    known.update(protocol_facts(app, session))
    for key in values:
        if key in known:
            values[key] = known[key]
    return values
