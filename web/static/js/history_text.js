// Image events in words, for the QA timeline: "ana accepted the pre-label cup (0.93)".

const TYPE_NAMES = {
  ImageAdded: "added the image", AnnotationCreated: "created", AnnotationEdited: "edited",
  AnnotationDeleted: "deleted", PrelabelProposed: "proposed", PrelabelAccepted: "accepted",
  PrelabelEdited: "corrected", PrelabelRejected: "rejected", PrelabelRestored: "restored",
  AssistClicked: "clicked",
  AssistEdited: "corrected the assist", AssistRejected: "rejected the assist",
  ImageSubmitted: "submitted the image", ReviewRecorded: "reviewed",
  ImageReopened: "reopened the image", AnnotationAttributesSet: "set attributes",
};

export function typeName(type) { return TYPE_NAMES[type] || type; }

/** Walks the events in order and describes each one, remembering what each id was. */
export class EventNarrator {
  constructor() { this.known = new Map(); }

  describe(ev) {
    const d = ev.data || {};
    const was = this.known.get(d.annotation_id);
    const name = was ? `${was.label} ${was.type}` : "label";
    let text;
    switch (ev.type) {
      case "ImageAdded": text = `added the image (${d.width}×${d.height})`; break;
      case "PrelabelProposed":
        text = `${d.model ? `${d.model.name}@${d.model.version}` : "a model"} proposed ${d.label} ${d.annotation_type}`
          + (typeof d.score === "number" ? ` (score ${d.score.toFixed(2)})` : "");
        break;
      case "AnnotationCreated":
        text = d.source === "assist" ? `made a ${d.label} ${d.annotation_type} with assist`
          : d.source === "import" ? `imported a ${d.label} ${d.annotation_type} (labeled dataset)`
            : `drew a ${d.label} ${d.annotation_type}`;
        break;
      case "AnnotationEdited":
      case "PrelabelEdited": {
        const parts = [];
        if (d.label) parts.push(`class ${was ? was.label : "?"} → ${d.label}`);
        if (d.geometry) parts.push("shape");
        text = `${ev.type === "PrelabelEdited" ? "corrected the pre-label" : "edited"} ${name}: ${parts.join(", ") || "no change"}`
          + (typeof d.iou === "number" ? ` (IoU to proposal ${d.iou.toFixed(3)})` : "");
        break;
      }
      case "AnnotationAttributesSet": {
        const values = Object.entries(d.attributes || {}).map(([k, v]) => `${k} = ${v}`);
        text = `set the attributes of ${name}: ${values.join(", ") || "none"}`;
        break;
      }
      case "AnnotationDeleted": text = `deleted ${name}`; break;
      case "PrelabelAccepted": text = `accepted the pre-label ${name}`; break;
      case "PrelabelRejected": text = `rejected the pre-label ${name}`; break;
      case "PrelabelRestored": text = `${d.undone === "accepted" ? "took back the acceptance of" : "restored"} the pre-label ${name} (proposed again)`; break;
      case "AssistEdited":
        text = `corrected the assist proposal ${name}`
          + (typeof d.iou === "number" ? ` (IoU to proposal ${d.iou.toFixed(3)})` : "");
        break;
      case "AssistRejected": text = `rejected the assist proposal ${name}`; break;
      case "AssistClicked": text = `clicked ${d.points ? d.points.length : ""} ${d.mode === "extreme_points" ? "extreme points" : d.mode} for ${d.label}`; break;
      case "ImageSubmitted": text = "submitted the image"; break;
      case "ReviewRecorded": text = `${d.verdict === "approve" ? "approved" : "rejected"} the image${d.comment ? `: “${d.comment}”` : ""}`; break;
      case "ImageReopened": text = `reopened the image for editing${d.comment ? `: “${d.comment}”` : ""}`; break;
      default: text = ev.type;
    }
    if (d.annotation_id && (ev.type === "AnnotationCreated" || ev.type === "PrelabelProposed")) {
      this.known.set(d.annotation_id, { label: d.label, type: d.annotation_type });
    } else if (d.annotation_id && d.label && was) {
      this.known.set(d.annotation_id, { ...was, label: d.label });
    }
    return text;
  }
}
