// Keyboard access to what scrolls sideways (code, outputs, wide formulas and tables): a
// box that scrolls can take the focus (tabindex 0), so its arrow keys scroll it; one that
// does not is left out of the tab order. The theme does this for every box at once when
// the page has loaded, which lays the whole page out again (autograder/website/pages.py
// turns that pass off); here each box is measured when it first comes into view.
(() => {
  const boxes = "pre, .cell_output > .output, .math-scroll, .table-scroll, .pst-scrollable-table-container";
  const measure = (box) => {
    const scrolls = box.scrollWidth > box.clientWidth || box.scrollHeight > box.clientHeight;
    box.tabIndex = scrolls ? 0 : -1;
  };
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (entry.isIntersecting) {
        measure(entry.target);
        observer.unobserve(entry.target);
      }
    }
  });
  const start = () => document.querySelectorAll(boxes).forEach((box) => observer.observe(box));
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
