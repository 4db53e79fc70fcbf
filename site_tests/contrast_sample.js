// Mark the text elements that axe's colour-contrast rule can skip (data-contrast-twin). Needs axe.
//
// The rule's verdict on an element's text depends on the computed colours, opacity, font size and
// weight and family, shadows, filters and clipping of the element and its ancestors (what is
// painted behind it, when the text lies within its nearest background), on what the text is made
// of (axe leaves out text of punctuation and symbols only, and does not judge a single character
// that fails), on whether it is disabled, and on what overlaps it. Elements equal in all but
// what overlaps them get the same verdict, or none if something overlaps; a tutorial has
// thousands of such twins (6,500 of Part 2's 8,300 text elements: code tokens, maths,
// paragraphs). For each chain of styles and kind of text this leaves one element unmarked, one
// fully shown inside its scrolling ancestors, and marks its twins; a chain with no fully shown
// element is left unmarked. Only attributes change: the page looks the same to every other rule.
//
// Called with {action: "mark"} it marks and returns how many; with {action: "recheck", targets}
// (axe's selectors of elements it could not judge) it unmarks their twins and returns how many;
// with {action: "unmark"} it unmarks all.
({ action, targets = [] }) => {
  if (action === "unmark") {
    for (const marked of document.querySelectorAll("[data-contrast-twin], [data-contrast-judged]")) {
      marked.removeAttribute("data-contrast-twin");
      marked.removeAttribute("data-contrast-judged");
    }
    return 0;
  }
  if (action === "recheck") {
    let unmarked = 0;
    for (const target of targets) {
      const group = document.querySelector(target)?.dataset.contrastJudged;
      for (const twin of group ? document.querySelectorAll(`[data-contrast-twin="${group}"]`) : []) {
        twin.removeAttribute("data-contrast-twin");
        unmarked += 1;
      }
    }
    return unmarked;
  }
  const PAINT = [
    "color", "background-color", "background-image", "opacity", "font-size", "font-weight",
    "text-shadow", "visibility", "filter", "backdrop-filter", "mix-blend-mode", "clip",
    "clip-path", "font-family", "-webkit-text-fill-color", "-webkit-text-stroke-width",
    "-webkit-text-stroke-color",
  ];
  // where axe's colour-contrast rule leaves text out whatever its colours
  const EXEMPT = "label, [disabled], [aria-disabled='true'], [inert], dialog";
  const chains = new Map(); // element -> id of its style chain
  const ids = new Map(); // style chain -> id
  const chainOf = (element) => {
    if (!element) return 0;
    if (!chains.has(element)) {
      const style = getComputedStyle(element);
      const own = PAINT.map((property) => style.getPropertyValue(property)).join(";");
      const chain = `${chainOf(element.parentElement)}>${element.tagName}:${own}`;
      if (!ids.has(chain)) ids.set(chain, ids.size + 1);
      chains.set(element, ids.get(chain));
    }
    return chains.get(element);
  };
  const clips = new Map(); // element -> the box its content is shown in (scrolling ancestors)
  const clipOf = (element) => {
    if (!element) return { left: -Infinity, top: -Infinity, right: Infinity, bottom: Infinity };
    if (!clips.has(element)) {
      let clip = clipOf(element.parentElement);
      const style = getComputedStyle(element);
      if (style.overflowX !== "visible" || style.overflowY !== "visible") {
        const box = element.getBoundingClientRect();
        clip = {
          left: Math.max(clip.left, box.left),
          top: Math.max(clip.top, box.top),
          right: Math.min(clip.right, box.right),
          bottom: Math.min(clip.bottom, box.bottom),
        };
      }
      clips.set(element, clip);
    }
    return clips.get(element);
  };
  const inside = (box, frame) => box.left >= frame.left && box.right <= frame.right
    && box.top >= frame.top && box.bottom <= frame.bottom;
  const fullyShown = (element) => {
    const box = element.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && box.bottom + scrollY > 0 && box.right + scrollX > 0
      && inside(box, clipOf(element.parentElement));
  };
  const backdrops = new Map(); // element -> the box of its nearest ancestor that paints a background
  const backdropOf = (element) => {
    if (!element) return { left: -Infinity, top: -Infinity, right: Infinity, bottom: Infinity };
    if (!backdrops.has(element)) {
      const style = getComputedStyle(element);
      const paints = style.backgroundImage !== "none"
        || !/^rgba\(.*, 0\)$|^transparent$/.test(style.backgroundColor);
      backdrops.set(element, paints ? element.getBoundingClientRect()
        : backdropOf(element.parentElement));
    }
    return backdrops.get(element);
  };
  const { removeUnicode, sanitize } = axe.commons.text;
  const textKind = (element) => { // as axe's colour-contrast rule reads an element's own text
    const own = sanitize([...element.childNodes]
      .filter((node) => node.nodeType === Node.TEXT_NODE).map((node) => node.nodeValue).join(""));
    if (!own) return null;
    if (!removeUnicode(own, { emoji: true, nonBmp: false, punctuations: true })) return "symbols";
    if (!sanitize(removeUnicode(own, { nonBmp: true }))) return "icons";
    return own.length === 1 ? "one character" : "text";
  };
  const groups = new Map(); // style chain and kind of text -> the elements with such text
  for (const element of document.body.querySelectorAll("*")) {
    const kind = textKind(element);
    // text out of its background's box, or exempt, is judged on its own (left unmarked)
    if (kind && !element.closest(EXEMPT)
      && inside(element.getBoundingClientRect(), backdropOf(element.parentElement))) {
      const group = `${chainOf(element)} ${kind}`;
      if (!groups.has(group)) groups.set(group, []);
      groups.get(group).push(element);
    }
  }
  let twins = 0;
  for (const [group, elements] of groups) {
    const judged = elements.find(fullyShown);
    if (!judged || elements.length === 1) continue;
    judged.dataset.contrastJudged = group;
    for (const element of elements) {
      if (element !== judged) {
        element.dataset.contrastTwin = group;
        twins += 1;
      }
    }
  }
  return twins;
}
