import { render } from "preact";
import { App } from "./app";
import { initialLanguage } from "./i18n";
import "./styles.css";

const root = document.getElementById("app");
if (root) render(<App initialLanguage={initialLanguage(navigator.languages ?? [])} />, root);
