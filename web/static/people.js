// Sanad People page: the copy buttons next to a new link or token (shown once).
document.addEventListener("click", async (event) => {
  const button = event.target;
  if (!(button instanceof HTMLButtonElement) || !button.dataset.copy) return;
  const field = document.getElementById(button.dataset.copy);
  if (!(field instanceof HTMLInputElement)) return;
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
  } catch {
    document.execCommand("copy"); // pages served over plain http have no clipboard API
  }
  button.textContent = button.dataset.copied || button.textContent;
});
