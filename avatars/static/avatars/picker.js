// The admin's voice picker: suggest only the voices of the chosen provider and language, and fill
// the voice's name, provider and language from the one picked. No library: a <datalist> already
// gives a searchable list; this only narrows and copies.
(() => {
  "use strict";

  const primary = (tag) => (tag || "").toLowerCase().split(/[-_]/)[0];
  const names = new Intl.DisplayNames(["en"], { type: "language" });
  const isTag = (value) => /^[a-z]{2,3}(-|$)/i.test(value || "");
  // A voice's language is a tag ("en-GB") or, for HeyGen and LiveAvatar, a name ("English").
  function speaks(voiceLanguage, wanted) {
    if (!voiceLanguage || !isTag(wanted)) return true;
    if (isTag(voiceLanguage)) return primary(voiceLanguage) === primary(wanted);
    const name = voiceLanguage.split(" (")[0].toLowerCase();
    return (names.of(primary(wanted)) || "").toLowerCase() === name;
  }

  function setUp() {
    const list = document.getElementById("voice-catalog");
    const input = document.getElementById("id_voice_id");
    if (!list || !input) return;
    const provider = document.getElementById("id_provider");
    const language = document.getElementById("id_language");
    const name = document.getElementById("id_name");
    const all = Array.from(list.options).map((option) => option.cloneNode(true));

    function narrow() {
      list.replaceChildren(...all.filter((option) =>
        (!provider?.value || option.dataset.provider === provider.value) &&
        speaks(option.dataset.language, language?.value)
      ).map((option) => option.cloneNode(true)));
    }

    input.addEventListener("change", () => {
      const picked = all.find((option) => option.value === input.value);
      if (!picked) return;
      if (provider) provider.value = picked.dataset.provider;
      if (language && isTag(picked.dataset.language)) {
        language.value = picked.dataset.language;
      }
      if (name && !name.value) name.value = picked.dataset.name;
    });
    provider?.addEventListener("change", narrow);
    language?.addEventListener("input", narrow);
    narrow();
  }

  function setUpPresenters() {
    const presenter = document.getElementById("id_presenter_id");
    const driver = document.getElementById("id_driver_id");
    const list = document.getElementById("presenter-catalog");
    if (!presenter || !driver || !list) return;
    presenter.addEventListener("change", () => {
      const picked = Array.from(list.options).find((option) => option.value === presenter.value);
      if (picked?.dataset.driver && !driver.value) driver.value = picked.dataset.driver;
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setUp();
    setUpPresenters();
  });
})();
