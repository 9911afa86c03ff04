/* Copy buttons on the project overview: data-copy="text", or data-copy-next copies the next <pre>. */
document.addEventListener("click", (event) => {
  const button = event.target.closest(".copy-btn");
  if (!button) return;
  const text = button.dataset.copy ?? button.closest(".snippet").querySelector("pre").innerText;
  const done = () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 1500); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done);
  } else {  // plain http on a LAN address: the older API still works
    const area = document.createElement("textarea");
    area.value = text; document.body.appendChild(area); area.select();
    document.execCommand("copy"); area.remove(); done();
  }
});
